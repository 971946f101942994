/*
 * fd handlers and event notifiers: readiness, read-before-write, replacement
 * and removal (also from inside callbacks), HUP, closed fds, external handlers,
 * EventNotifier itself and stats.handlers. SEMANTICS.md §3.
 *
 * The cases live in helpers/fd-handler-suite.ts so that test/fdmon-*.test.ts
 * can run the very same suite against each fd monitor; this file runs it on
 * the default one ('auto').
 */
import test from 'ava';
import { registerFdHandlerSuite } from './helpers/fd-handler-suite.js';

registerFdHandlerSuite(test, 'auto');
