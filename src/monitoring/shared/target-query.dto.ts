import { NameParam, TextParam } from '../../http/query';

/** `target`: which watched server (every monitoring operation takes it). */
export class TargetQueryDto {
  @TextParam({
    description:
      'The watched server, by its configured name (default: the first configured); GET /api/db/monitoring/targets ' +
      "lists them. An unknown name is a 404 TARGET_NOT_FOUND. (No example: the names are each instance's own.)",
    maxLength: 64,
    pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
    message: 'must be a target name: 1 to 64 letters, digits, _ . - (starting with a letter or digit)',
  })
  target?: string;
}

/** `target` and `database`: the families whose figures are per database (tables, indexes, bloat, cache). */
export class DatabaseQueryDto extends TargetQueryDto {
  @NameParam(
    'The database of the target to read (default: the database of its URL); one it does not watch is a 404 ' +
      "DATABASE_NOT_FOUND. (No example: the names are each target's own.)",
  )
  database?: string;
}
