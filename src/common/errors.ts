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

/** The tool itself cannot run here (native core not built or out of date): says nothing about the kernel. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  readonly code = 'ERR_CLOSE_STRESS_TOOL';
  readonly exitCode = 1;
}

/** An output file could not be written whole (a full disk, a file size limit): the message names the path and errno. */
export class OutputError extends Error {
  override readonly name = 'OutputError';
  readonly code = 'ERR_CLOSE_STRESS_OUTPUT';
  readonly exitCode = 1;
}
