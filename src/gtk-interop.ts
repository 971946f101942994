/*
 * gtk-interop.ts — the shapes of node-gtk's objects that
 * MainContext.fromGtk() and mainContext.toGtk() use, and their checks.
 *
 * node-gtk (https://github.com/romgrk/node-gtk) ships no TypeScript types
 * and is not a dependency of this package: the conversion takes whatever
 * `gi.require('GLib', '2.0')` returned and relies on two GLib functions
 * only, g_main_context_push/pop_thread_default() and
 * g_main_context_ref_thread_default(), which both libraries bind.  The
 * native half is native/addon/gtk-interop.cc, which says why a pointer
 * cannot simply be handed over.
 */
import { invalidArg } from './validate';

/** A node-gtk `GLib.MainContext` (a boxed GMainContext), as far as fromGtk() needs it. */
export interface GtkMainContextLike {
  pushThreadDefault(): void;
  popThreadDefault(): void;
  isOwner?(): boolean;
}

/** node-gtk's GLib namespace (`gi.require('GLib', '2.0')`), as far as toGtk() needs it. */
export interface GtkGLibLike<T = unknown> {
  MainContext: { refThreadDefault(): T };
}

function hasMethod(value: unknown, name: string): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as Record<string, unknown>)[name] === 'function'
  );
}

/** @internal Throws a TypeError unless `value` looks like a node-gtk GLib.MainContext. */
export function checkGtkMainContext(value: unknown, name: string): asserts value is GtkMainContextLike {
  if (!hasMethod(value, 'pushThreadDefault') || !hasMethod(value, 'popThreadDefault')) {
    throw invalidArg(name, "a node-gtk GLib.MainContext (with pushThreadDefault() and popThreadDefault())", value);
  }
}

/** @internal Throws a TypeError unless `value` looks like node-gtk's GLib namespace. */
export function checkGtkGLib(value: unknown, name: string): asserts value is GtkGLibLike {
  const mc = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).MainContext : undefined;
  if (!hasMethod(mc, 'refThreadDefault')) {
    throw invalidArg(name, "node-gtk's GLib namespace (gi.require('GLib', '2.0'))", value);
  }
}
