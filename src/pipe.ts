/*
 * pipe.ts — pipe(): a pair of descriptors for fd handlers (an extension
 * beyond API.md; Node has no pipe(2) of its own).
 */
import { binding } from './native';

/**
 * Opens a non-blocking, close-on-exec pipe and returns [readFd, writeFd];
 * both are yours to close (fs.closeSync()).  Throws AioError (EMFILE, ...)
 * on failure.  Not in QEMU: pipe2(O_NONBLOCK | O_CLOEXEC), which Node lacks.
 */
export function pipe(): [number, number] {
  return binding.pipe();
}
