/*
 * Ambient types for node-gtk 4.1.1 (a devDependency that ships none): only
 * what the GTK interop tests (test/gtk-*.test.ts) and examples/gtk-app use.
 * node-gtk generates its API from GObject introspection at run time; these
 * are hand-written from the GIR of GLib 2.74 and GTK 3.24 with node-gtk's
 * conventions (camelCase names, out-parameters returned, overrides in
 * node_modules/node-gtk/lib/overrides).  Checked by `npm run test:types`.
 */
declare module 'node-gtk' {
  export namespace GLib {
    /** GSourceFunc: return true to keep the source (G_SOURCE_CONTINUE). */
    type SourceFunc = () => boolean;

    class Source {
      getId(): number;
      getName(): string | null;
      getPriority(): number;
      setPriority(priority: number): void;
      setCallback(fn: SourceFunc): void;
      attach(context: MainContext | null): number;
      destroy(): void;
      isDestroyed(): boolean;
      getContext(): MainContext | null;
    }

    class MainContext {
      constructor();
      static default(): MainContext;
      static getThreadDefault(): MainContext | null;
      static refThreadDefault(): MainContext;
      iteration(mayBlock: boolean): boolean;
      pending(): boolean;
      wakeup(): void;
      isOwner(): boolean;
      acquire(): boolean;
      release(): void;
      pushThreadDefault(): void;
      popThreadDefault(): void;
      findSourceById(sourceId: number): Source | null;
    }

    class MainLoop {
      constructor(context: MainContext | null, isRunning: boolean);
      /** node-gtk override: under ESM / inside a microtask it defers to a timer and returns undefined. */
      run(): void;
      quit(): void;
      isRunning(): boolean;
      getContext(): MainContext;
    }

    const PRIORITY_HIGH: number;
    const PRIORITY_DEFAULT: number;
    const PRIORITY_HIGH_IDLE: number;
    const PRIORITY_DEFAULT_IDLE: number;
    const PRIORITY_LOW: number;

    function idleAdd(priority: number, fn: SourceFunc): number;
    function timeoutAdd(priority: number, intervalMs: number, fn: SourceFunc): number;
    function sourceRemove(id: number): boolean;
    function idleSourceNew(): Source;
    function timeoutSourceNew(intervalMs: number): Source;
  }

  /* GTK 3: the widgets are typed loosely (node-gtk properties and signals). */
  export namespace Gtk {
    interface Widget {
      showAll(): void;
      show(): void;
      destroy(): void;
      getWindow(): Gdk.Window | null;
      getAllocatedWidth(): number;
      getAllocatedHeight(): number;
      on(signal: string, fn: (...args: unknown[]) => unknown): void;
      [property: string]: unknown;
    }
    interface Container extends Widget {
      add(child: Widget): void;
    }
    interface Window extends Container {
      setDefaultSize(width: number, height: number): void;
      setTitle(title: string): void;
      move(x: number, y: number): void;
    }
    interface Label extends Widget {
      setText(text: string): void;
      setMarkup(markup: string): void;
      getText(): string;
      setXalign(xalign: number): void;
    }
    interface Box extends Container {
      packStart(child: Widget, expand: boolean, fill: boolean, padding: number): void;
    }
    interface TextBuffer {
      getEndIter(): TextIter;
      insert(iter: TextIter, text: string, len: number): void;
      getLineCount(): number;
      setText(text: string, len: number): void;
      getInsert(): TextMark;
      placeCursor(where: TextIter): void;
    }
    interface TextIter {
      readonly __brand: 'TextIter';
    }
    interface TextMark {
      readonly __brand: 'TextMark';
    }
    interface TextView extends Widget {
      getBuffer(): TextBuffer;
      setEditable(editable: boolean): void;
      setMonospace(monospace: boolean): void;
      setCursorVisible(visible: boolean): void;
      scrollToMark(mark: TextMark, withinMargin: number, useAlign: boolean, xalign: number, yalign: number): void;
    }
    interface ScrolledWindow extends Container {
      setMinContentHeight(height: number): void;
    }
    interface CssProvider {
      loadFromData(data: string): boolean;
    }

    function init(argv: string[] | null): void;
    /** node-gtk override: under ESM / inside a microtask it defers to a timer. */
    function main(): void;
    function mainQuit(): void;
    function mainLevel(): number;
    function eventsPending(): boolean;
    function mainIterationDo(blocking: boolean): boolean;

    const Window: { new (props?: Record<string, unknown>): Window };
    const Label: { new (props?: Record<string, unknown>): Label };
    const Box: { new (props?: Record<string, unknown>): Box };
    const TextView: { new (props?: Record<string, unknown>): TextView };
    const ScrolledWindow: { new (props?: Record<string, unknown>): ScrolledWindow };
    const CssProvider: { new (): CssProvider };
    const StyleContext: {
      addProviderForScreen(screen: Gdk.Screen, provider: CssProvider, priority: number): void;
    };
    const Orientation: { HORIZONTAL: number; VERTICAL: number };
    const WindowPosition: { CENTER: number };
    const STYLE_PROVIDER_PRIORITY_APPLICATION: number;
  }

  export namespace Gdk {
    interface Window {
      getWidth(): number;
      getHeight(): number;
    }
    interface Screen {
      readonly __brand: 'Screen';
    }
    const Screen: { getDefault(): Screen };
    function getDefaultRootWindow(): Window;
    function pixbufGetFromWindow(window: Window, x: number, y: number, width: number, height: number): GdkPixbuf.Pixbuf | null;
  }

  // A class, not an interface: `typeof GdkPixbuf` (Modules) needs the
  // namespace to hold a value, or a check without skipLibCheck fails with
  // TS2708.
  export namespace GdkPixbuf {
    class Pixbuf {
      getWidth(): number;
      getHeight(): number;
      savev(filename: string, type: string, optionKeys: string[], optionValues: string[]): boolean;
    }
  }

  export interface Modules {
    GLib: typeof GLib;
    Gtk: typeof Gtk;
    Gdk: typeof Gdk;
    GdkPixbuf: typeof GdkPixbuf;
  }

  export interface NodeGtk {
    require<N extends keyof Modules>(namespace: N, version?: string): Modules[N];
    isLoaded(namespace: string, version?: string): boolean;
  }

  const gi: NodeGtk;
  export default gi;
}
