/*
 * validate.ts — argument checks with one message format.
 *
 * Every public method validates its arguments here before calling native
 * code (which re-checks types, but with terse internal messages).  A value
 * of the wrong type is a TypeError; a number of the right type that is out
 * of range (negative, not an integer, NaN, too big) is a RangeError:
 *
 *   The "fd" argument must be a non-negative integer. Received -1
 *   The "options.name" property must be of type string. Received type number (5)
 *
 * Both carry Node's codes (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE,
 * ERR_OUT_OF_RANGE) so that callers can tell them apart without parsing.
 */
import { inspect } from 'node:util';

type Code = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE' | 'ERR_ILLEGAL_CONSTRUCTOR';

const INT32_MAX = 2 ** 31 - 1;

/** How a received value is shown: like Node's own argument errors. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof ctor === 'string' && ctor !== '') return `an instance of ${ctor}`;
    return inspect(value, { depth: -1 });
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

function subject(name: string): string {
  return name.includes('.') ? `The "${name}" property` : `The "${name}" argument`;
}

function withCode<E extends Error>(error: E, code: Code): E {
  Object.defineProperty(error, 'code', { value: code, writable: true, configurable: true, enumerable: false });
  return error;
}

/** A TypeError: `actual` is not of the expected type (or not an allowed value). */
export function invalidArg(name: string, expected: string, actual: unknown, code: Code = 'ERR_INVALID_ARG_TYPE'): TypeError {
  return withCode(new TypeError(`${subject(name)} must be ${expected}. Received ${describe(actual)}`), code);
}

/** A RangeError: `actual` is a number, but not an acceptable one. */
export function invalidRange(name: string, expected: string, actual: number): RangeError {
  return withCode(new RangeError(`${subject(name)} must be ${expected}. Received ${String(actual)}`), 'ERR_OUT_OF_RANGE');
}

/**
 * The TypeError for `new X()` on a class whose objects only a factory makes
 * (Node's code for the same case, ERR_ILLEGAL_CONSTRUCTOR); @how says
 * which factory.
 */
export function illegalConstructor(how: string): TypeError {
  return withCode(new TypeError(`Illegal constructor: use ${how}`), 'ERR_ILLEGAL_CONSTRUCTOR');
}

/* ---- predicates that throw ------------------------------------------------ */

export function checkBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArg(name, 'of type boolean', value);
}

export function checkString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArg(name, 'of type string', value);
}

export function checkFunction(value: unknown, name: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArg(name, 'of type function', value);
}

/** undefined, null or a function; returns the function or undefined. */
export function optionalFunction<F extends (...args: never[]) => unknown>(value: unknown, name: string): F | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'function') throw invalidArg(name, 'of type function', value);
  return value as F;
}

/** undefined or a boolean; returns it, or `fallback`. */
export function optionalBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  checkBoolean(value, name);
  return value;
}

/** An options bag: undefined (→ {}) or a non-null object that is not a function. */
export function optionsObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw invalidArg(name, 'of type object', value);
  return value as Record<string, unknown>;
}

/**
 * Refuses own keys of `value` that are not in `known`: a misspelt handler or
 * option (`onread`, `maxNS`) would otherwise be ignored without a word.
 * The TypeError names the key and lists the known ones.
 */
export function checkKeys(value: object, name: string, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const list = known.map((k) => `"${k}"`).join(', ');
      throw withCode(
        new TypeError(`${subject(name)} has an unknown property "${key}". Known properties: ${list}`),
        'ERR_INVALID_ARG_VALUE',
      );
    }
  }
}

/** An options bag with only `known` keys: undefined (→ {}) or an object. */
export function optionsOf(value: unknown, name: string, known: readonly string[]): Record<string, unknown> {
  const opts = optionsObject(value, name);
  checkKeys(opts, name, known);
  return opts;
}

/** A required object (not null). */
export function checkObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw invalidArg(name, 'of type object', value);
}

function checkNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw invalidArg(name, 'of type number', value);
}

/** A file descriptor: an integer in [0, 2**31 - 1]. */
export function checkFd(value: unknown, name: string): asserts value is number {
  checkNumber(value, name);
  if (!Number.isInteger(value) || value < 0) throw invalidRange(name, 'a non-negative integer', value);
  if (value > INT32_MAX) throw invalidRange(name, `a non-negative integer <= ${INT32_MAX}`, value);
}

/** An integer in [1, 2**31 - 1] (timer scales). */
export function checkPositiveInt32(value: unknown, name: string): asserts value is number {
  checkNumber(value, name);
  if (!Number.isInteger(value) || value <= 0 || value > INT32_MAX) {
    throw invalidRange(name, `a positive integer <= ${INT32_MAX}`, value);
  }
}

/** An integer in the int32 range (GSource priorities). */
export function checkInt32(value: unknown, name: string): asserts value is number {
  checkNumber(value, name);
  if (!Number.isInteger(value) || value < -INT32_MAX - 1 || value > INT32_MAX) {
    throw invalidRange(name, `an integer between ${-INT32_MAX - 1} and ${INT32_MAX}`, value);
  }
}

/** A non-negative safe integer (nanosecond counts). */
export function checkNonNegativeSafeInteger(value: unknown, name: string): asserts value is number {
  checkNumber(value, name);
  if (!Number.isSafeInteger(value) || value < 0) throw invalidRange(name, 'a non-negative safe integer', value);
}

/** A finite number >= 0. */
export function checkNonNegativeNumber(value: unknown, name: string): asserts value is number {
  checkNumber(value, name);
  if (!Number.isFinite(value) || value < 0) throw invalidRange(name, 'a finite number >= 0', value);
}

/** A finite number. */
export function checkFiniteNumber(value: unknown, name: string): asserts value is number {
  checkNumber(value, name);
  if (!Number.isFinite(value)) throw invalidRange(name, 'a finite number', value);
}

/** An integer, negative ones included (timer expiry times and deltas). */
export function checkInteger(value: unknown, name: string): asserts value is number {
  checkNumber(value, name);
  if (!Number.isInteger(value)) throw invalidRange(name, 'an integer', value);
}

/** One of a fixed set of strings. */
export function checkOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    const list = allowed.map((a) => `'${a}'`).join(', ');
    throw invalidArg(name, `one of ${list}`, value, typeof value === 'string' ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE');
  }
}
