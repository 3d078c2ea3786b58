/**
 * Literal redaction of SQL texts for QUERY_TEXT=redacted.
 *
 * A lexer, not a parser: it follows PostgreSQL's scanner (scan.l) far enough to tell literals from everything else,
 * so it works on texts pg_stat_activity cut at track_activity_query_size and on texts that do not parse at all.
 *
 * - String constants ('…' with '' escapes, E'…' with backslash escapes, U&'…', B'…', X'…', N'…') and dollar-quoted
 *   bodies ($$…$$, $tag$…$tag$, with other tags nested inside) become `?`; so do numeric constants (decimal, 1e-5,
 *   .5, 0x1F, 0o17, 0b101, 1_000).
 * - Comments (-- to end of line, and nested /* … *\/) are dropped: they may quote data.
 * - Identifiers, quoted identifiers, keywords (true, false, null stay as they are), operators and $n parameters stay.
 * - A literal or comment the text ends inside (a truncated text) is dropped to the end: no fragment of it is shown.
 *
 * Plain '…' strings are read with standard_conforming_strings = on (the default since PostgreSQL 9.1), where a
 * backslash is an ordinary character.
 */
const REDACTED = '?';

const isIdentStart = (c: string): boolean => /[A-Za-z_]/.test(c) || c.charCodeAt(0) >= 0x80;
const isIdentChar = (c: string): boolean => /[A-Za-z0-9_$]/.test(c) || c.charCodeAt(0) >= 0x80;
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

export function redactSql(text: string): string {
  // Parts joined once at the end: reading the last character of a growing string would flatten it every time.
  const out: string[] = [];
  const lastChar = (): string | undefined => out.at(-1)?.at(-1);
  let i = 0;
  const n = text.length;
  /** Appends a placeholder, with a space if it would otherwise glue onto an identifier. */
  const placeholder = (): void => {
    const last = lastChar();
    out.push(last !== undefined && isIdentChar(last) ? ` ${REDACTED}` : REDACTED);
  };
  /** Drops a comment (the index after it is `end`); one space keeps the tokens around it apart. */
  const dropComment = (end: number): void => {
    while (out.length > 0 && /[ \t]$/.test(out[out.length - 1])) {
      const trimmed = out[out.length - 1].replace(/[ \t]+$/, '');
      if (trimmed === '') out.pop();
      else out[out.length - 1] = trimmed;
    }
    if (out.length > 0 && end < n && !/\s/.test(text[end])) out.push(' ');
    i = end;
  };

  while (i < n) {
    const c = text[i];
    const next = text[i + 1];

    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      dropComment(end === -1 ? n : end);
      continue;
    }
    if (c === '/' && next === '*') {
      dropComment(skipBlockComment(text, i));
      continue;
    }
    if (c === "'") {
      i = skipQuoted(text, i, false);
      placeholder();
      continue;
    }
    if (c === '"') {
      const end = skipQuotedIdentifier(text, i);
      out.push(text.slice(i, end));
      i = end;
      continue;
    }
    if (c === '$') {
      if (isDigit(next)) {
        // $1: a parameter, kept.
        let j = i + 1;
        while (j < n && isDigit(text[j])) j++;
        out.push(text.slice(i, j));
        i = j;
        continue;
      }
      const tagEnd = dollarTagEnd(text, i);
      if (tagEnd >= 0) {
        const tag = text.slice(i, tagEnd + 1);
        const close = text.indexOf(tag, tagEnd + 1);
        i = close === -1 ? n : close + tag.length;
        placeholder();
        continue;
      }
      if (tagEnd === TRUNCATED) {
        // The text ends inside what can only be an opening $tag: a truncated dollar quote.
        i = n;
        placeholder();
        continue;
      }
      out.push(c);
      i++;
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(next))) {
      // A numeric constant with whatever the scanner would glue onto it (1e5, 0x1F, 1_000, 1.5).
      let j = i + 1;
      for (; j < n; j++) {
        const d = text[j];
        if (d === '.' && text[j + 1] === '.') break;
        const exponentSign = (d === '+' || d === '-') && /^[0-9._]*[0-9][eE]$/.test(text.slice(i, j));
        if (!exponentSign && !/[0-9A-Za-z_.]/.test(d)) break;
      }
      placeholder();
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentChar(text[j])) j++;
      const word = text.slice(i, j);
      if (text[j] === "'" && /^[eEbBxXnN]$/.test(word)) {
        // E'…', B'…', X'…', N'…': the prefix is part of the constant.
        i = skipQuoted(text, j, /^[eE]$/.test(word));
        placeholder();
        continue;
      }
      if (/^[uU]$/.test(word) && text[j] === '&' && text[j + 1] === "'") {
        i = skipQuoted(text, j + 1, false);
        placeholder();
        continue;
      }
      out.push(word);
      i = j;
      continue;
    }
    out.push(c);
    i++;
  }
  return out.join('');
}

/** From an opening quote, the index after the closing one ('' and, in E'' strings, \' do not close). */
function skipQuoted(text: string, start: number, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === "'") {
      if (text[i + 1] === "'") {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return text.length;
}

function skipQuotedIdentifier(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === '"') {
      if (text[i + 1] === '"') {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return text.length;
}

/** PostgreSQL block comments nest. */
function skipBlockComment(text: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return text.length;
}

const TRUNCATED = -2;

/** The index of the `$` closing an opening dollar-quote tag at `start` ($$ or $tag$), -1 if none, TRUNCATED if the text ends inside the tag. */
function dollarTagEnd(text: string, start: number): number {
  let i = start + 1;
  if (text[i] === '$') return i;
  if (i >= text.length || !isIdentStart(text[i])) return -1;
  i++;
  // A tag continues like an identifier, except that `$` ends it.
  while (i < text.length && text[i] !== '$' && isIdentChar(text[i])) i++;
  if (i === text.length) return TRUNCATED;
  return text[i] === '$' ? i : -1;
}
