import { TargetRegistry } from '../../targets/registry';
import { MetaDto } from '../shared/meta.dto';

/** The meta of an answer about several targets: the first target's version, as far as it is known. */
export function buildMetaOf(targets: TargetRegistry, started: number): MetaDto {
  const first = targets.list()[0];
  return {
    collectedAt: new Date().toISOString(),
    serverVersion: first?.knownInfo()?.version.match(/^PostgreSQL (\S+)/)?.[1] ?? 'unknown',
    durationMs: Math.round((performance.now() - started) * 100) / 100,
    cached: false,
    ageMs: 0,
    warnings: [],
    window: null,
  };
}
