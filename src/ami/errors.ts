/** Errors of the AMI layer. Each carries a stable `code` so callers branch on it, not on text. */

export type AmiValidationCode =
  | 'AMI_VALUE_CONTROL_CHAR'
  | 'AMI_BAD_KEY'
  | 'AMI_LINE_TOO_LONG'
  | 'AMI_TOO_MANY_HEADERS'
  | 'AMI_BAD_VARIABLE_NAME'
  | 'AMI_BAD_VALUE';

export class AmiValidationError extends Error {
  override readonly name = 'AmiValidationError';
  constructor(
    readonly code: AmiValidationCode,
    /** The header or request field at fault, e.g. `Variable MC_REQ` or `channel`. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export class AmiTimeoutError extends Error {
  override readonly name = 'AmiTimeoutError';
  readonly code = 'AMI_TIMEOUT';
  constructor(
    readonly action: string,
    readonly timeoutMs: number,
  ) {
    super(`AMI ${action} got no reply within ${timeoutMs} ms`);
  }
}

export class AmiDisconnectedError extends Error {
  override readonly name = 'AmiDisconnectedError';
  readonly code = 'AMI_DISCONNECTED';
  constructor(
    message = 'AMI connection lost before the reply',
    /**
     * Whether the action had been written to the socket. `false` proves the central never
     * saw it (safe to send again); `true` means it may have acted on it.
     */
    readonly sent = true,
  ) {
    super(message);
  }
}

export class AmiAuthError extends Error {
  override readonly name = 'AmiAuthError';
  readonly code = 'AMI_AUTH_FAILED';
  constructor(message = 'AMI authentication failed') {
    super(message);
  }
}
