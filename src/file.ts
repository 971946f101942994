/*
 * file.ts — AioFile and Aiocb: file I/O whose completions run in an
 * AioContext (QEMU's block layer: file-posix.c on the thread pool, Linux
 * AIO or io_uring).
 *
 * A request is submitted from the context's home thread and its callback
 * runs later in that context, from whatever drives it: poll(), a GLib loop
 * (MainContext.iteration(), GTK) or Node's loop (attachToNodeLoop()).  It
 * never runs before the call that submitted it has returned.
 *
 * Lifetimes.  Each request is one Aiocb, which holds the callback and the
 * buffers; the native side keeps the Aiocb referenced from submission to
 * completion, so the garbage collector cannot free memory the kernel or a
 * worker thread is still writing into, even if the caller drops every
 * handle.  close() refuses (ERR_AIO_BUSY) while requests are in flight;
 * so does AioContext.prototype.close() for a context with files that have
 * requests in flight.  Closing the context closes its idle files.
 *
 * Errors.  Argument errors throw at the call (TypeError, RangeError) and
 * submit nothing.  I/O errors arrive in the callback as AioError with the
 * errno name as `code`: EINVAL for a misaligned O_DIRECT request, ENOSPC,
 * EIO, ECANCELED for a request cancelled before it started.
 */
import * as fs from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { markAsUntransferable } from 'node:worker_threads';
import { abortReason, signalOption, type AbortOptions } from './awaitables';
import { nativeContext, type AioContext } from './context';
import { AioError, closedError, type AioErrnoCode } from './errors';
import { binding, type NativeFile } from './native';
import {
  checkNonNegativeSafeInteger,
  checkOneOf,
  checkString,
  invalidArg,
  invalidRange,
  optionalBoolean,
  optionsObject,
} from './validate';

/** The engine a file is opened with; 'auto' is io_uring where it works, else threads. */
export type IoEngine = 'auto' | 'threads' | 'linux-aio' | 'io_uring';

export interface AioFileOptions {
  /** node:fs flags ('r', 'r+', 'w', 'w+', 'wx', 'a', ...) or a number of O_* bits; default 'r'. */
  flags?: string | number;
  /** Permission bits for a file created by the open; default 0o666 (before umask). */
  mode?: number;
  /** O_DIRECT: bypass the page cache (buffers, offsets and sizes must be aligned). */
  direct?: boolean;
  /** The engine; default 'auto'. */
  engine?: IoEngine;
}

export interface AioFileStats {
  /** Requests submitted and not yet completed (their callbacks not yet run). */
  inFlight: number;
  /** Why the requested engine was not used (e.g. linux-aio without O_DIRECT), else null. */
  fallbackReason: string | null;
}

export type IoCallback = (err: AioError | null, bytes: number) => void;
export type DoneCallback = (err: AioError | null) => void;

/** IoEngine values, in the order of the core's enum. */
const ENGINES: readonly IoEngine[] = ['auto', 'threads', 'linux-aio', 'io_uring'];

/** The most buffers of one vectored request (Linux IOV_MAX). */
const IOV_MAX = 1024;

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_SYNC, O_DIRECT } = fs.constants;

/** node:fs's string flags (lib/internal/fs/utils.js stringToFlags), as O_* bits. */
const STRING_FLAGS: Readonly<Record<string, number>> = {
  r: O_RDONLY,
  rs: O_RDONLY | O_SYNC,
  sr: O_RDONLY | O_SYNC,
  'r+': O_RDWR,
  'rs+': O_RDWR | O_SYNC,
  'sr+': O_RDWR | O_SYNC,
  w: O_TRUNC | O_CREAT | O_WRONLY,
  wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  xw: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  'w+': O_TRUNC | O_CREAT | O_RDWR,
  'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  'xw+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  a: O_APPEND | O_CREAT | O_WRONLY,
  ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  xa: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  sa: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  'a+': O_APPEND | O_CREAT | O_RDWR,
  'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'xa+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
  'sa+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
};

function openFlags(value: unknown): number {
  if (value === undefined) return O_RDONLY;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) {
      throw invalidRange('options.flags', 'a non-negative integer of O_* bits', value);
    }
    return value;
  }
  if (typeof value === 'string') {
    const flags = STRING_FLAGS[value];
    if (flags === undefined) {
      throw invalidArg('options.flags', "a node:fs flag string ('r', 'r+', 'w', 'w+', 'a', ...)", value, 'ERR_INVALID_ARG_VALUE');
    }
    return flags;
  }
  throw invalidArg('options.flags', 'of type string or number', value);
}

/* ---- errors ----------------------------------------------------------------- */

const ERRNO_CODES: ReadonlySet<string> = new Set<AioErrnoCode>([
  'EPERM', 'ENOENT', 'EINTR', 'EIO', 'EBADF', 'EAGAIN', 'ENOMEM', 'EACCES', 'EFAULT', 'EBUSY',
  'EEXIST', 'ENODEV', 'EINVAL', 'ENFILE', 'EMFILE', 'ENOSPC', 'EPIPE', 'ERANGE', 'ENOSYS',
  'ENOTSUP', 'ECANCELED', 'ETIMEDOUT', 'EISDIR', 'ENOTDIR', 'EROFS', 'ESPIPE', 'EFBIG',
  'EOVERFLOW', 'ENXIO', 'ENAMETOOLONG', 'ELOOP', 'EOPNOTSUPP',
]);

const systemErrors = getSystemErrorMap();

/** AioError for a positive errno @err from @syscall, as the addon builds it (errors.cc). */
export function errnoError(err: number, syscall: string): AioError {
  const [name, text] = systemErrors.get(-err) ?? ['UNKNOWN', 'unknown error'];
  const code = (ERRNO_CODES.has(name) ? name : 'UNKNOWN') as AioErrnoCode;
  return new AioError(`${name}: ${text}, ${syscall}`, code, err, syscall);
}

/* ---- requests --------------------------------------------------------------- */

/** Request kinds, in the addon's order (file.cc). */
const enum Op {
  Read,
  Write,
  Readv,
  Writev,
  Flush,
  Discard,
}
const SYSCALLS = ['preadv', 'pwritev', 'preadv', 'pwritev', 'fdatasync', 'fallocate'] as const;

const kConstruct = Symbol('Aiocb.construct');

/**
 * Aiocb (QEMU's BlockAIOCB): one request in flight, returned by every
 * AioFile operation.  cancel() is bdrv_aio_cancel_async: it asks for the
 * request to be cancelled and returns at once; the callback still runs
 * exactly once, later, with ECANCELED if the request had not started, else
 * with its real result.
 */
export class Aiocb {
  #file: AioFile | null;
  #native: NativeFile | null = null;
  #id = 0;
  #op: Op;
  #cb: ((err: AioError | null, bytes: number) => unknown) | null;
  /** The buffers (one view or an array of views), kept until completion. */
  // eslint-disable-next-line no-unused-private-class-members -- held, never read: keeps the memory alive
  #buffers: unknown;

  /** @internal Use the methods of AioFile. */
  constructor(token: typeof kConstruct, file: AioFile, op: Op, cb: (err: AioError | null, bytes: number) => unknown, buffers: unknown) {
    if (token !== kConstruct) throw new TypeError('Illegal constructor: Aiocb objects come from AioFile methods');
    this.#file = file;
    this.#op = op;
    this.#cb = cb;
    this.#buffers = buffers;
  }

  /** @internal */
  static submitted(req: Aiocb, native: NativeFile, id: number): void {
    req.#native = native;
    req.#id = id;
  }

  /**
   * @internal The addon's completion: `res` is a byte count or a negative
   * errno.  Returns what the callback returned, so that a rejected promise
   * from an async callback is reported as a throw would be.
   */
  static complete(this: void, req: Aiocb, res: number): unknown {
    const cb = req.#cb;
    const op = req.#op;
    req.#cb = null;
    req.#buffers = undefined;
    req.#native = null;
    req.#file = null;
    if (cb === null) return undefined;
    return res < 0 ? cb(errnoError(-res, SYSCALLS[op]), 0) : cb(null, res);
  }

  /** aio_cancel_async: asks to cancel; no effect once done.  The callback still runs once. */
  cancel(): void {
    if (this.#native !== null && this.#cb !== null) this.#native.cancel(this.#id);
  }

  /** Whether the request completed (its callback has run or is running). */
  get done(): boolean {
    return this.#cb === null;
  }

  /** The file the request belongs to, or null once done. */
  get file(): AioFile | null {
    return this.#file;
  }
}

/* ---- argument checks -------------------------------------------------------- */

/**
 * Whether @view's ArrayBuffer was detached (transferred).  A detached view
 * reads as empty, so only then is it worth the test: making a view of a
 * detached buffer throws.
 */
function isDetached(view: ArrayBufferView): boolean {
  if (view.byteLength !== 0) return false;
  try {
    new Uint8Array(view.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * A buffer in flight must not be detached: a transfer to a worker would
 * hand memory the kernel still writes into to a heap that may free it.
 * Node's own marker makes postMessage() and structuredClone() copy it
 * instead (it stays so: the mark cannot be undone).
 */
function pin(view: ArrayBufferView): void {
  markAsUntransferable(view.buffer);
}

function checkView(value: unknown, name: string): asserts value is ArrayBufferView {
  if (!ArrayBuffer.isView(value)) {
    throw invalidArg(name, 'an instance of Buffer, TypedArray or DataView', value);
  }
  if (isDetached(value)) {
    throw invalidArg(name, 'a view of a live ArrayBuffer (it was detached or transferred)', value);
  }
  // resize() to a smaller length decommits the pages under the view while
  // the kernel (or a short read's zero-fill) still writes into them.  A
  // growable SharedArrayBuffer only grows, so its memory stays.
  if ((value.buffer as { resizable?: boolean }).resizable === true) {
    throw invalidArg(name, 'a view of a fixed-length ArrayBuffer (a resizable one can shrink under a request)', value);
  }
}

function checkViews(value: unknown, name: string): asserts value is ArrayBufferView[] {
  if (!Array.isArray(value)) throw invalidArg(name, 'an array of ArrayBufferView', value);
  if (value.length > IOV_MAX) throw invalidRange(`${name}.length`, `at most ${IOV_MAX}`, value.length);
  for (let i = 0; i < value.length; i++) checkView(value[i], `${name}[${i}]`);
}

function checkCallback(value: unknown): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArg('cb', 'of type function', value);
}

/* ---- AioFile ---------------------------------------------------------------- */

/** The files of each context, for AioContext.prototype.close(). */
const filesOf = new WeakMap<AioContext, Set<AioFile>>();

/**
 * @internal Called by AioContext.prototype.close() before it closes
 * anything: throws ERR_AIO_BUSY if a file of @ctx has requests in flight,
 * else closes every file of @ctx.
 */
export function closeFilesOf(ctx: AioContext): void {
  const files = filesOf.get(ctx);
  if (files === undefined) return;
  for (const file of files) {
    const n = file.stats.inFlight;
    if (n > 0) {
      throw new AioError(
        `AioContext '${ctx.name}' has ${n} request${n === 1 ? '' : 's'} in flight on AioFile '${file.path}': ` +
          'wait for their callbacks (or cancel them) before close()',
        'ERR_AIO_BUSY',
      );
    }
  }
  for (const file of files) file.close();
  filesOf.delete(ctx);
}

export class AioFile implements Disposable {
  readonly #native: NativeFile;
  readonly #ctx: AioContext;
  readonly #path: string;
  readonly #fd: number;
  readonly #engine: 'threads' | 'linux-aio' | 'io_uring';
  #closed = false;
  #promises: AioFilePromises | null = null;

  private constructor(ctx: AioContext, native: NativeFile, path: string) {
    this.#ctx = ctx;
    this.#native = native;
    this.#path = path;
    this.#fd = native.fd;
    this.#engine = native.engine;
  }

  /**
   * Opens `path` (open(2) with O_CLOEXEC) for I/O completed in `ctx`.  Throws
   * AioError with the errno code when open fails (ENOENT, EACCES, EINVAL for
   * O_DIRECT on a file system without it), and ERR_AIO_CLOSED on a closed
   * context.  'linux-aio' without `direct` uses the thread pool instead, as
   * QEMU does (the reason is in stats.fallbackReason).
   */
  static open(ctx: AioContext, path: string, options?: AioFileOptions): AioFile {
    const native = nativeContext(ctx, 'ctx'); // TypeError, or ERR_AIO_CLOSED
    checkString(path, 'path');
    if (path.includes('\0')) throw invalidArg('path', 'a string without null bytes', path, 'ERR_INVALID_ARG_VALUE');
    const opts = optionsObject(options, 'options');
    for (const key of Object.keys(opts)) {
      if (!['flags', 'mode', 'direct', 'engine'].includes(key)) {
        throw invalidArg(`options.${key}`, 'one of the known options (flags, mode, direct, engine)', opts[key], 'ERR_INVALID_ARG_VALUE');
      }
    }
    let flags = openFlags(opts.flags);
    const mode = opts.mode ?? 0o666;
    checkNonNegativeSafeInteger(mode, 'options.mode');
    if (mode > 0o7777) throw invalidRange('options.mode', 'an integer between 0 and 0o7777', mode);
    if (optionalBoolean(opts.direct, 'options.direct', false)) flags |= O_DIRECT;
    const engine = opts.engine ?? 'auto';
    checkOneOf(engine, 'options.engine', ENGINES);

    const file = new AioFile(ctx, new binding.File(native, path, flags, mode, ENGINES.indexOf(engine), Aiocb.complete), path);
    let set = filesOf.get(ctx);
    if (set === undefined) filesOf.set(ctx, (set = new Set()));
    set.add(file);
    return file;
  }

  /**
   * A zero-filled Buffer whose memory starts at a multiple of `alignment`
   * bytes (default 4096), as `direct: true` needs (QEMU's qemu_blockalign):
   * an ordinary Buffer is only 16-byte aligned.  A view into an ArrayBuffer
   * up to alignment - 1 bytes larger; its memory is freed by the GC.
   */
  static alignedBuffer(size: number, alignment = 4096): Buffer {
    checkNonNegativeSafeInteger(size, 'size');
    if (size > 2 ** 32) throw invalidRange('size', `at most ${2 ** 32}`, size);
    checkNonNegativeSafeInteger(alignment, 'alignment');
    if (alignment < 8 || alignment > 2 ** 20 || (alignment & (alignment - 1)) !== 0) {
      throw invalidRange('alignment', 'a power of two between 8 and 1048576', alignment);
    }
    const view = binding.alignedBuffer(size, alignment);
    return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  }

  #open(): NativeFile {
    if (this.#closed || this.#ctx.closed) throw closedError(`AioFile '${this.#path}'`);
    return this.#native;
  }

  #submit(native: NativeFile, req: Aiocb, id: number): Aiocb {
    Aiocb.submitted(req, native, id);
    return req;
  }

  /** The file descriptor (yours to read, not to close). */
  get fd(): number {
    return this.#fd;
  }

  /** The engine in use. */
  get engine(): 'threads' | 'linux-aio' | 'io_uring' {
    return this.#engine;
  }

  /** The path given to open(). */
  get path(): string {
    return this.#path;
  }

  /** The context whose loop runs the completions. */
  get context(): AioContext {
    return this.#ctx;
  }

  /** Whether close() was called (or the context closed). */
  get closed(): boolean {
    return this.#closed || this.#ctx.closed;
  }

  /** Live introspection. */
  get stats(): AioFileStats {
    if (this.closed) return { inFlight: 0, fallbackReason: this.#native.fallbackReason };
    return { inFlight: this.#native.inFlight, fallbackReason: this.#native.fallbackReason };
  }

  /** preadv of `buf` at `position`; `cb` gets the bytes read (short only at end of file). */
  read(buf: ArrayBufferView, position: number, cb: IoCallback): Aiocb {
    return this.#rw(Op.Read, buf, position, cb);
  }

  /** pwritev of `buf` at `position`; `cb` gets the bytes written. */
  write(buf: ArrayBufferView, position: number, cb: IoCallback): Aiocb {
    return this.#rw(Op.Write, buf, position, cb);
  }

  /** preadv into @bufs, in order, from @position. */
  readv(bufs: ArrayBufferView[], position: number, cb: IoCallback): Aiocb {
    return this.#rwv(Op.Readv, bufs, position, cb);
  }

  /** pwritev of @bufs, in order, at @position. */
  writev(bufs: ArrayBufferView[], position: number, cb: IoCallback): Aiocb {
    return this.#rwv(Op.Writev, bufs, position, cb);
  }

  #rw(op: Op.Read | Op.Write, buf: ArrayBufferView, position: number, cb: IoCallback): Aiocb {
    const native = this.#open();
    checkView(buf, 'buf');
    checkNonNegativeSafeInteger(position, 'position');
    checkCallback(cb);
    pin(buf);
    const req = new Aiocb(kConstruct, this, op, cb, buf);
    const id = op === Op.Read ? native.read(req, buf, position) : native.write(req, buf, position);
    return this.#submit(native, req, id);
  }

  #rwv(op: Op.Readv | Op.Writev, bufs: ArrayBufferView[], position: number, cb: IoCallback): Aiocb {
    const native = this.#open();
    checkViews(bufs, 'bufs');
    checkNonNegativeSafeInteger(position, 'position');
    checkCallback(cb);
    const views = bufs.slice(); // later changes to the caller's array change nothing
    views.forEach(pin);
    const req = new Aiocb(kConstruct, this, op, cb, views);
    const id = op === Op.Readv ? native.readv(req, views, position) : native.writev(req, views, position);
    return this.#submit(native, req, id);
  }

  /** fdatasync: data written before it is on stable storage. */
  flush(cb: DoneCallback): Aiocb {
    const native = this.#open();
    checkCallback(cb);
    const req = new Aiocb(kConstruct, this, Op.Flush, (err) => cb(err), undefined);
    return this.#submit(native, req, native.flush(req));
  }

  /** fallocate(PUNCH_HOLE | KEEP_SIZE): the range reads back as zeros. */
  discard(position: number, length: number, cb: DoneCallback): Aiocb {
    const native = this.#open();
    checkNonNegativeSafeInteger(position, 'position');
    checkNonNegativeSafeInteger(length, 'length');
    checkCallback(cb);
    const req = new Aiocb(kConstruct, this, Op.Discard, (err) => cb(err), undefined);
    return this.#submit(native, req, native.discard(req, position, length));
  }

  /** The same operations as promises; see AioFilePromises. */
  get promises(): AioFilePromises {
    return (this.#promises ??= new AioFilePromises(this));
  }

  /**
   * Closes the descriptor.  Throws ERR_AIO_BUSY (and changes nothing) while
   * requests are in flight.  Idempotent; also done by the context's close().
   */
  close(): void {
    if (this.#closed) return;
    if (!this.#ctx.closed) {
      const n = this.#native.inFlight;
      if (n > 0) {
        throw new AioError(
          `AioFile '${this.#path}' has ${n} request${n === 1 ? '' : 's'} in flight: ` +
            'wait for their callbacks (or cancel them) before close()',
          'ERR_AIO_BUSY',
        );
      }
    }
    this.#native.close();
    this.#closed = true;
    filesOf.get(this.#ctx)?.delete(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * AioFile.prototype.promises: each operation as a promise.  { signal }
 * cancels the request (cancel_async) when it aborts: the promise rejects
 * with the signal's reason if the request was cancelled before it started,
 * and settles with its real outcome if it had already started (the bytes
 * were transferred: the buffer is free to reuse only once it settles).
 * An already aborted signal rejects at once and submits nothing.
 */
export class AioFilePromises {
  readonly #file: AioFile;

  /** @internal */
  constructor(file: AioFile) {
    this.#file = file;
  }

  /** Bad arguments throw here, at the call, and submit nothing (as for the callback forms). */
  #run<T>(options: AbortOptions | undefined, submit: (cb: IoCallback) => Aiocb, value: (bytes: number) => T): Promise<T> {
    const signal = signalOption(options);
    let resolve!: (value: T) => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    if (signal?.aborted) {
      reject(abortReason(signal));
      return promise;
    }
    const onAbort = (): void => req.cancel();
    const req = submit((err, bytes) => {
      signal?.removeEventListener('abort', onAbort);
      if (err === null) resolve(value(bytes));
      else if (err.code === 'ECANCELED' && signal?.aborted) reject(abortReason(signal));
      else reject(err);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    return promise;
  }

  read(buf: ArrayBufferView, position: number, options?: AbortOptions): Promise<number> {
    return this.#run(options, (cb) => this.#file.read(buf, position, cb), (n) => n);
  }

  write(buf: ArrayBufferView, position: number, options?: AbortOptions): Promise<number> {
    return this.#run(options, (cb) => this.#file.write(buf, position, cb), (n) => n);
  }

  readv(bufs: ArrayBufferView[], position: number, options?: AbortOptions): Promise<number> {
    return this.#run(options, (cb) => this.#file.readv(bufs, position, cb), (n) => n);
  }

  writev(bufs: ArrayBufferView[], position: number, options?: AbortOptions): Promise<number> {
    return this.#run(options, (cb) => this.#file.writev(bufs, position, cb), (n) => n);
  }

  flush(options?: AbortOptions): Promise<void> {
    return this.#run(options, (cb) => this.#file.flush((err) => cb(err, 0)), () => undefined);
  }

  discard(position: number, length: number, options?: AbortOptions): Promise<void> {
    return this.#run(options, (cb) => this.#file.discard(position, length, (err) => cb(err, 0)), () => undefined);
  }
}
