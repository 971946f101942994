/*
 * main-context.ts — MainContext: a GLib GMainContext, to attach
 * AioContexts to and iterate.
 *
 * iteration() is a driver like AioContext.prototype.poll(): a callback that
 * throws while it runs makes it throw (several: one AggregateError) after
 * the GLib iteration is over.
 */
import { AioError } from './errors';
import { checkGtkGLib, checkGtkMainContext, type GtkGLibLike, type GtkMainContextLike } from './gtk-interop';
import { type FastHandle, binding, type NativeMainContext } from './native';
import { attachNodeLoop, type NodeLoopHandle } from './node-loop';
import { throwLateRejections } from './rejections';
import { checkBoolean } from './validate';

let nativeOf: (m: MainContext) => NativeMainContext;
let defaultContext: MainContext | undefined;
let makingDefault = false;
/** Set by fromGtk(): the native wrapper the constructor adopts. */
let adopting: NativeMainContext | undefined;

/* One function for every main context: the call site in iteration() keeps
 * one target (native/addon/fast-method.h). */
const fastIteration = binding.MainContext.fastIteration;

/**
 * A GLib main context: the set of sources one GLib loop runs.  Attach
 * AioContexts to it and run it with iteration(), GTK's loop, or Node's loop
 * (attachToNodeLoop()).  GLib's `GMainContext`.
 */
export class MainContext {
  readonly #native: NativeMainContext;
  readonly #fast: FastHandle<'main-context'>;
  #nodeLoop: NodeLoopHandle | null = null;

  /**
   * Returns the process's default main context, the one GTK runs (always
   * the same object).  Maps to GLib's `g_main_context_default()`.
   */
  static default(): MainContext {
    if (defaultContext === undefined) {
      makingDefault = true;
      try {
        defaultContext = new MainContext();
      } finally {
        makingDefault = false;
      }
    }
    return defaultContext;
  }

  /**
   * Creates a main context of its own, run only by whoever iterates it.
   * Maps to GLib's `g_main_context_new()`.
   */
  constructor() {
    this.#native = adopting ?? new binding.MainContext(makingDefault);
    this.#fast = this.#native.fastHandle;
  }

  /**
   * Runs one iteration of this main context, first waiting for an event
   * when `mayBlock` is true; returns whether any source was dispatched.
   * Throws what callbacks threw, as poll() does (including rejections of
   * promises returned by earlier callbacks, at its start).  Maps to GLib's
   * `g_main_context_iteration()`.
   */
  iteration(mayBlock: boolean): boolean {
    checkBoolean(mayBlock, 'mayBlock');
    throwLateRejections('iteration');
    return fastIteration(this.#fast, mayBlock);
  }

  /** Whether any source has events to dispatch.  Maps to GLib's `g_main_context_pending()`. */
  pending(): boolean {
    return this.#native.pending();
  }

  /**
   * Makes a blocking iteration() return; any thread.  Maps to GLib's
   * `g_main_context_wakeup()`.
   */
  wakeup(): void {
    this.#native.wakeup();
  }

  /**
   * Lets Node's own event loop iterate this GMainContext (no Gtk.main() or
   * blocking iteration() needed): every source attached to it, AioContexts
   * and node-gtk's alike, runs between Node's callbacks.  Its sources are
   * opaque, so while the handle is ref'd (the default) it keeps the process
   * alive; unref() lets the process exit when nothing else is pending.
   * Iterates only if this thread can acquire the GMainContext (no other
   * thread runs it).  Throws ERR_AIO_ATTACHED if already attached.  Not in
   * GLib: the core's AioLoopBridge runs GLib's prepare/check around libuv's
   * poll.
   */
  attachToNodeLoop(): NodeLoopHandle {
    if (this.#nodeLoop !== null) {
      throw new AioError(
        "MainContext is already attached to Node's event loop: detach() its handle first",
        'ERR_AIO_ATTACHED',
      );
    }
    this.#nodeLoop = attachNodeLoop(this, this.#native, null, () => {
      this.#nodeLoop = null;
    });
    return this.#nodeLoop;
  }

  /**
   * Returns the MainContext for node-gtk's `gtkContext` (a `GLib.MainContext` from
   * `gi.require('GLib', '2.0')`): the same GMainContext, so an AioContext
   * attached to it is run by whatever node-gtk runs that context with.
   * MainContext.default() itself for the default context; a new wrapper
   * (holding a reference) for any other.  Works by letting node-gtk push
   * the context as this thread's default and reading it back natively
   * (GLib's `g_main_context_ref_thread_default()`).
   */
  static fromGtk(gtkContext: GtkMainContextLike): MainContext {
    checkGtkMainContext(gtkContext, 'gtkContext');
    let native: NativeMainContext;
    gtkContext.pushThreadDefault();
    try {
      if (typeof gtkContext.isOwner === 'function' && !gtkContext.isOwner()) {
        throw new AioError(
          'MainContext.fromGtk: the GLib.MainContext is owned by another thread',
          'ERR_AIO_WRONG_THREAD',
        );
      }
      native = new binding.MainContext('thread-default');
    } finally {
      gtkContext.popThreadDefault();
    }
    if (native.isDefault) return MainContext.default();
    adopting = native;
    try {
      return new MainContext();
    } finally {
      adopting = undefined;
    }
  }

  /**
   * Returns this GMainContext as a node-gtk `GLib.MainContext`, made by `GLib`
   * (node-gtk's `gi.require('GLib', '2.0')`): node-gtk can then iterate it,
   * run a `GLib.MainLoop` on it, attach its own sources or find ours.
   * Works by pushing this context as the thread's default (GLib's
   * `g_main_context_push_thread_default()`) and calling
   * `GLib.MainContext.refThreadDefault()`.  Throws ERR_AIO_WRONG_THREAD if
   * another thread owns the context.
   */
  toGtk<T>(GLib: GtkGLibLike<T>): T {
    checkGtkGLib(GLib, 'GLib');
    this.#native.pushThreadDefault();
    try {
      return GLib.MainContext.refThreadDefault();
    } finally {
      this.#native.popThreadDefault();
    }
  }

  /** Whether this is g_main_context_default(). */
  get isDefault(): boolean {
    return this.#native.isDefault;
  }

  static {
    nativeOf = (m) => m.#native;
  }

  /** @internal Whether `value` is a MainContext (a brand check, not instanceof). */
  static isMainContext(value: unknown): value is MainContext {
    return typeof value === 'object' && value !== null && #native in value;
  }
}

/** @internal The native GMainContext wrapper of `m`. */
export function nativeMainContext(m: MainContext): NativeMainContext {
  return nativeOf(m);
}
