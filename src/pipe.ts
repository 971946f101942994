/*
 * pipe.ts — pipe(): a pair of descriptors for fd handlers (an extension
 * beyond API.md; Node has no pipe(2) of its own).
 */
import { binding } from './native';

/**
 * pipe2(O_NONBLOCK | O_CLOEXEC).  Returns [readFd, writeFd]; both are yours
 * to close (fs.closeSync()).  Throws AioError (EMFILE, ...) on failure.
 */
export function pipe(): [number, number] {
  return binding.pipe();
}
