import { spawnSync } from 'node:child_process';

export interface PythonAvailability {
  readonly python: string;
  /** Why the Python tests are skipped, or undefined when they run. */
  readonly reason: string | undefined;
}

/** CI sets CI=true (GitHub Actions, most others); `CI=false` or `CI=0` means not CI. */
export function onCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/**
 * Whether the Python runner's tests can run: `$PYTHON` (default `python3`) must start.
 * Without it the tests are skipped with the reason, as the Redis and compiler tests are,
 * except on CI, which installs python3: there they run and fail, so a lost python3 is seen.
 */
export function pythonAvailability(env: NodeJS.ProcessEnv = process.env): PythonAvailability {
  const python = env.PYTHON ?? 'python3';
  const probe = spawnSync(python, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (probe.error === undefined && probe.status === 0) return { python, reason: undefined };
  if (onCi(env)) return { python, reason: undefined };
  const why = probe.error !== undefined ? (probe.error as NodeJS.ErrnoException).code ?? probe.error.message : `exit status ${probe.status}`;
  return { python, reason: `${python} is not available (${why}); set PYTHON to a Python 3.8+ interpreter to run these tests` };
}
