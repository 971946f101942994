/*
 * fd handlers and event notifiers: readiness, read-before-write, replacement
 * and removal (also from inside callbacks), HUP, closed fds, external handlers,
 * EventNotifier itself and stats.handlers. SEMANTICS.md §3.
 *
 * The cases live in helpers/fd-handler-suite.ts so that test/fdmon-*.test.ts
 * can run the very same suite against each fd monitor; this file runs it on
 * the default one ('auto') as it is where io_uring is missing: ppoll, moving
 * to epoll at 64 fds.  (Where io_uring works, 'auto' is io_uring, which
 * fdmon-io_uring.test.ts covers.)  AIOCONTEXT_IO_URING is read when a
 * context is created, so setting it here applies to this file's process.
 */
import test from 'ava';
import { registerFdHandlerSuite } from './helpers/fd-handler-suite.js';

process.env.AIOCONTEXT_IO_URING = '0';
registerFdHandlerSuite(test, 'auto');
