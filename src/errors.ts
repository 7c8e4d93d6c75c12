/** Bad flags, arguments or files: one line to stderr, exit 2, nothing started. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'ERR_CLOSE_STRESS_USAGE';
  readonly exitCode = 2;
}

/** The run started but could not measure what it was asked to: exit 1. */
export class RunError extends Error {
  override readonly name = 'RunError';
  readonly code = 'ERR_CLOSE_STRESS_RUN';
  readonly exitCode = 1;
}
