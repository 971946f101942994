/*
 * observe.ts — the loop made visible: diagnostics_channel events and a
 * Chrome trace-event recording of an AioContext's passes and callbacks.
 *
 * Channels (node:diagnostics_channel), published only while they have a
 * subscriber:
 *   'aiocontext:dispatch'  one message per callback that ran:
 *                          { context, kind: 'bh' | 'fd' | 'timer', name?,
 *                            fd?, clock?, startNs, durationNs }
 *   'aiocontext:poll'      one message per pass, after its callbacks':
 *                          { context, driver: 'poll' | 'gsource', progress,
 *                            startNs, durationNs } (+ blocking for poll())
 * Times are clockNs('realtime') (CLOCK_MONOTONIC) in ns.
 *
 * How it costs nothing when nobody looks: poll() checks two
 * `channel.hasSubscribers` getters and one field; only when something
 * observes does it turn on the core's observer (aio_context_set_observer),
 * which times each callback and pass in C and keeps the records until this
 * file takes them, at the end of each poll().  Passes run by GLib or
 * Node's loop are published at the next poll() or stopTrace().
 *
 * The trace: ctx.startTrace({ durationMs }) records every pass and
 * callback that starts within durationMs (default 10 s, at most maxEvents);
 * ctx.stopTrace() returns { traceEvents, displayTimeUnit } as Chrome's
 * trace-event JSON ("X" complete events in µs), which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open.
 */
// A namespace import: a default import would make the published .d.ts need
// esModuleInterop in every consumer (test:package checks commonjs without it).
import * as diagnosticsChannel from 'node:diagnostics_channel';
import { threadId } from 'node:worker_threads';
import { binding, type NativeContext } from './native';
import { finishPoll } from './poll-driver';
import { checkNonNegativeSafeInteger, optionsObject } from './validate';

export const dispatchChannel = diagnosticsChannel.channel('aiocontext:dispatch');
export const pollChannel = diagnosticsChannel.channel('aiocontext:poll');

/** The core's AioEventKind values, in order. */
const KINDS = ['bh', 'fd', 'timer', 'poll', 'gsource'] as const;
/** Records per takeEvents() (the size of Observation.buf). */
const RECORDS = 256;
const CLOCKS = ['realtime', 'virtual', 'host', 'virtual_rt'] as const;

export interface DispatchMessage {
  context: object;
  kind: 'bh' | 'fd' | 'timer';
  /** The BH's name (kind 'bh'). */
  name?: string;
  /** The fd (kind 'fd'). */
  fd?: number;
  /** The timer's clock (kind 'timer'). */
  clock?: (typeof CLOCKS)[number];
  startNs: number;
  durationNs: number;
}

export interface PollMessage {
  context: object;
  /** 'poll': one poll() call; 'gsource': one dispatch of the GSource by GLib. */
  driver: 'poll' | 'gsource';
  /** poll()'s argument (driver 'poll'). */
  blocking?: boolean;
  /** poll()'s result (driver 'poll'); true for a GSource dispatch. */
  progress: boolean;
  startNs: number;
  durationNs: number;
}

export interface TraceOptions {
  /** Record passes and callbacks that start within this many ms; default 10000. */
  durationMs?: number;
  /** At most this many events; default 1,000,000. */
  maxEvents?: number;
}

/** One Chrome trace event. */
export interface TraceEvent {
  name: string;
  cat: string;
  ph: 'X' | 'M';
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

/** Chrome's trace-event JSON object format. */
export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ns' | 'ms';
  otherData: { context: string; startNs: number; endNs: number; dropped: number };
}

interface Trace {
  startNs: number;
  untilNs: number;
  maxEvents: number;
  events: TraceEvent[];
  dropped: number;
}

/** Per-context observation state (one per AioContext). */
export class Observation {
  /** Whether the core's observer is on. */
  on = false;
  trace: Trace | null = null;
  /** takeEvents()'s buffers, reused: 1 + 4 doubles per record. */
  readonly buf = new Float64Array(1 + 4 * RECORDS);
  readonly names: (string | undefined)[] = [];

  /** True when nobody observes: poll() then takes the plain path. */
  idle(): boolean {
    return !pollChannel.hasSubscribers && !dispatchChannel.hasSubscribers && this.trace === null;
  }
}

/** poll() while something observes (see the file comment). */
export function observedPoll(ctx: object, name: string, native: NativeContext, obs: Observation, blocking: boolean): boolean {
  if (!obs.on) {
    native.setObserve(true);
    obs.on = true;
  }
  try {
    return finishPoll(native.poll(blocking));
  } finally {
    flush(ctx, name, native, obs, blocking);
  }
}

/** poll() when nobody observes any more: turns the core's observer off. */
export function stopObserving(native: NativeContext, obs: Observation): void {
  native.setObserve(false);
  while (native.takeEvents(obs.buf, obs.names) === RECORDS) {
    /* dropped */
  }
  obs.on = false;
}


/** Publishes and records what the core observed since the last flush. */
function flush(ctx: object, name: string, native: NativeContext, obs: Observation, blocking: boolean | undefined): void {
  const { buf, names } = obs;
  let n: number;
  do {
    n = native.takeEvents(buf, names);
    if (obs.trace) obs.trace.dropped += buf[0];
    publish(ctx, name, obs, blocking, n);
  } while (n === RECORDS);
}

function publish(ctx: object, name: string, obs: Observation, blocking: boolean | undefined, n: number): void {
  const { buf, names } = obs;
  const publishDispatch = dispatchChannel.hasSubscribers;
  const publishPoll = pollChannel.hasSubscribers;
  const trace = obs.trace;
  for (let i = 0; i < n; i++) {
    const at = 1 + 4 * i;
    const kind = KINDS[buf[at]];
    const arg = buf[at + 1];
    const startNs = buf[at + 2];
    const durationNs = buf[at + 3] - startNs;
    if (kind === 'poll' || kind === 'gsource') {
      const progress = kind === 'gsource' || arg === 1;
      if (publishPoll) {
        const msg: PollMessage =
          kind === 'poll'
            ? { context: ctx, driver: 'poll', blocking: blocking ?? false, progress, startNs, durationNs }
            : { context: ctx, driver: 'gsource', progress, startNs, durationNs };
        pollChannel.publish(msg);
      }
      if (trace) record(trace, kind === 'poll' ? 'poll' : 'gsource dispatch', 'aiocontext,pass', startNs, durationNs, { progress });
      continue;
    }
    const msg: DispatchMessage = { context: ctx, kind, startNs, durationNs };
    let label: string;
    if (kind === 'bh') {
      msg.name = names[i] as string;
      names[i] = undefined;
      label = `bh ${msg.name}`;
    } else if (kind === 'fd') {
      msg.fd = arg;
      label = `fd ${arg}`;
    } else {
      msg.clock = CLOCKS[arg];
      label = `timer ${msg.clock}`;
    }
    if (publishDispatch) dispatchChannel.publish(msg);
    if (trace) record(trace, label, `aiocontext,${kind}`, startNs, durationNs, { context: name });
  }
}

function record(trace: Trace, name: string, cat: string, startNs: number, durationNs: number, args: Record<string, unknown>): void {
  if (startNs < trace.startNs || startNs > trace.untilNs) return;
  if (trace.events.length >= trace.maxEvents) {
    trace.dropped++;
    return;
  }
  trace.events.push({
    name,
    cat,
    ph: 'X',
    ts: (startNs - trace.startNs) / 1e3,
    dur: durationNs / 1e3,
    pid: process.pid,
    tid: threadId,
    args,
  });
}

/** ctx.startTrace(): validates @options and starts recording. */
export function startTrace(native: NativeContext, obs: Observation, options: TraceOptions | undefined): void {
  const opts = optionsObject(options, 'options') as TraceOptions;
  const durationMs = opts.durationMs ?? 10_000;
  checkNonNegativeSafeInteger(durationMs, 'options.durationMs');
  const maxEvents = opts.maxEvents ?? 1_000_000;
  checkNonNegativeSafeInteger(maxEvents, 'options.maxEvents');
  if (!obs.on) {
    native.setObserve(true);
    obs.on = true;
  }
  const startNs = binding.clockNs(0);
  obs.trace = { startNs, untilNs: startNs + durationMs * 1e6, maxEvents, events: [], dropped: 0 };
}

/** ctx.stopTrace(): the recording so far as Chrome trace-event JSON. */
export function stopTrace(ctx: object, name: string, native: NativeContext, obs: Observation): ChromeTrace {
  const now = binding.clockNs(0);
  // Without startTrace(): an empty recording.
  const trace = obs.trace ?? { startNs: now, untilNs: now, maxEvents: 0, events: [], dropped: 0 };
  // What GLib or Node's loop ran since the last poll().
  flush(ctx, name, native, obs, undefined);
  obs.trace = null;
  if (obs.idle()) stopObserving(native, obs);
  const endNs = Math.min(now, trace.untilNs);
  const meta: TraceEvent = { name: 'thread_name', cat: '__metadata', ph: 'M', ts: 0, pid: process.pid, tid: threadId, args: { name: `AioContext '${name}'` } };
  return {
    traceEvents: [meta, ...trace.events],
    displayTimeUnit: 'ns',
    otherData: { context: name, startNs: trace.startNs, endNs, dropped: trace.dropped },
  };
}
