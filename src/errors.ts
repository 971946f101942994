/*
 * errors.ts — AioError, the class of every error the addon throws.
 *
 * The native addon receives this class at load time (src/native.ts) and
 * builds its errors from it, so `err instanceof AioError` holds for errors
 * thrown from C++ as well as from TypeScript.  Argument errors are plain
 * TypeError / RangeError (src/validate.ts).
 */

/** States of the binding that make a call fail. */
export type AioStateCode =
  | 'ERR_AIO_CLOSED' // the context (or notifier) was closed
  | 'ERR_AIO_WRONG_THREAD' // not the context's home thread
  | 'ERR_AIO_DELETED' // the BottomHalf or Timer was deleted
  | 'ERR_AIO_NOT_DISABLED' // enableExternal() without disableExternal()
  | 'ERR_AIO_NOT_ACQUIRED' // release() without acquire()
  | 'ERR_AIO_ATTACHED' // attach() while already attached
  | 'ERR_AIO_BUSY' // EventNotifier.close() while still registered; AioFile/AioContext close() with requests in flight
  | 'ERR_AIO_WOULD_BLOCK_FOREVER'; // a blocking wait with nothing armed, never shared

/** errno names the core and its syscalls report ('UNKNOWN' for others). */
export type AioErrnoCode =
  | 'EPERM'
  | 'ENOENT'
  | 'EINTR'
  | 'EIO'
  | 'EBADF'
  | 'EAGAIN'
  | 'ENOMEM'
  | 'EACCES'
  | 'EFAULT'
  | 'EBUSY'
  | 'EEXIST'
  | 'ENODEV'
  | 'EINVAL'
  | 'ENFILE'
  | 'EMFILE'
  | 'ENOSPC'
  | 'EPIPE'
  | 'ERANGE'
  | 'ENOSYS'
  | 'ENOTSUP'
  | 'ECANCELED'
  | 'ETIMEDOUT'
  | 'EISDIR'
  | 'ENOTDIR'
  | 'EROFS'
  | 'ESPIPE'
  | 'EFBIG'
  | 'EOVERFLOW'
  | 'ENXIO'
  | 'ENAMETOOLONG'
  | 'ELOOP'
  | 'EOPNOTSUPP'
  | 'UNKNOWN';

/** Every `code` an AioError may carry. */
export type AioErrorCode = AioStateCode | AioErrnoCode;

/** A message from any value (String() may throw: a Symbol is fine, a bad toString is not). */
function messageOf(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * The error every failing call of the package throws, besides argument
 * TypeErrors and RangeErrors: `code` says why ('ERR_AIO_CLOSED', 'EBADF',
 * ...).  The core's negative errno returns, in QEMU's convention, become
 * `errno` and `syscall`.
 */
export class AioError extends Error {
  /** 'ERR_AIO_*' for a state of the binding, an errno name for a core error. */
  readonly code: AioErrorCode;
  /** The positive errno value, for core errors. */
  readonly errno?: number;
  /** The system call or core function that failed, for core errors. */
  readonly syscall?: string;

  /** Makes an error with `message` and `code`; `errno` and `syscall` for core errors. */
  constructor(message: string, code: AioErrorCode, errno?: number, syscall?: string) {
    // Any value makes a message, as with Error itself; a Symbol (which
    // Error's own conversion refuses) or an object whose toString throws
    // must not turn making the error into another error.
    super(messageOf(message));
    this.code = code;
    if (errno !== undefined) this.errno = errno;
    if (syscall !== undefined) this.syscall = syscall;
  }
}

// On the prototype (as for Node's own errors), so that `name` is not an own
// enumerable property and stack traces start with "AioError: ...".
Object.defineProperty(AioError.prototype, 'name', {
  value: 'AioError',
  writable: true,
  configurable: true,
  enumerable: false,
});

/** The error for any use of a closed object. */
export function closedError(subject: string): AioError {
  return new AioError(`${subject} is closed`, 'ERR_AIO_CLOSED');
}
