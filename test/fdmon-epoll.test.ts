/*
 * The fd-handler suite (helpers/fd-handler-suite.ts) on contexts created with
 * { fdmon: 'epoll' }. See fdmon.test.ts for what is specific to the monitors.
 */
import test from 'ava';
import { registerFdHandlerSuite } from './helpers/fd-handler-suite.js';

registerFdHandlerSuite(test, 'epoll');
