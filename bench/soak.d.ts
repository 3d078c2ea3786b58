import type { ChildProcess } from 'node:child_process';

export interface Service {
  child: ChildProcess;
  baseUrl: string;
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SoakFigures {
  connections: number;
  durationS: number;
  requests: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  statuses: Record<string, number>;
  fivexx: number;
  errors: number;
  timeouts: number;
  errorLogLines: string[];
  heapIdleMb: number;
  heapStartMb: number;
  heapEndMb: number;
  rssStartMb: number;
  rssPeakMb: number;
  rssEndMb: number;
}

export const PATHS: string[];
export function startService(env: Record<string, string>): Promise<Service>;
export function soak(
  service: Service,
  options: { connections: number; durationS: number; warmupS?: number },
): Promise<SoakFigures>;
