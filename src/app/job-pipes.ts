// The two pipes between bvisor and one of its own processes (the wasm runner, the rewriter): a
// job it reads on its fd 3 and an answer it writes on its fd 4. bvisor keeps its ends as sockets;
// the process's ends are handed to it at its launch (the only descriptors it gets), and bvisor's
// copies of those must then close, or the answer's end never comes.
import { Socket } from 'node:net';
import { shim } from '../backends/linux/ffi/shim.js';
import { pipe } from '../backends/linux/launcher.js';

export interface JobPipes {
  /** The process's ends: the job's read end, the answer's write end (its fd 3 and 4). */
  handed: [number, number];
  job: Socket;
  answer: Socket;
  /** Once the answer's end came (or its socket closed or failed). */
  answerDone: Promise<void>;
  /** Closes bvisor's copies of the handed ends (once the process holds its own, or never will). */
  closeHanded(): void;
  /** Closes bvisor's own ends. */
  destroy(): void;
}

export function jobPipes(): JobPipes {
  const s = shim();
  const [jobR, jobW] = pipe(true, true);
  let ends: [number, number];
  try {
    ends = pipe(true, true);
  } catch (e) {
    s.bv_close(jobR);
    s.bv_close(jobW);
    throw e;
  }
  const [outR, outW] = ends;
  const job = new Socket({ fd: jobW, readable: false, writable: true });
  // A process that ended before reading its job: what was not written is no one's.
  job.on('error', () => {});
  const answer = new Socket({ fd: outR, readable: true, writable: false });
  const answerDone = new Promise<void>((r) => {
    answer.on('end', r);
    answer.on('close', r);
    answer.on('error', () => r());
  });
  let handedOpen = true;
  return {
    handed: [jobR, outW],
    job,
    answer,
    answerDone,
    closeHanded: () => {
      if (!handedOpen) return;
      handedOpen = false;
      s.bv_close(jobR);
      s.bv_close(outW);
    },
    destroy: () => {
      answer.destroy();
      job.destroy();
    },
  };
}
