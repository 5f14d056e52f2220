// Scalars recorded on the GPU and read back in batches: a training loop records each step's
// loss here instead of reading it (a read-back per step drains the queue, so the GPU idles
// while the host prepares the next batch). One read-back per `capacity` steps.
import { copyBuffer, readBuffer } from './dispatch.js';
import { empty, fmtShape, type Tensor } from './tensor.js';

export class ScalarLog {
  private readonly store: Tensor;
  private n = 0;

  constructor(readonly capacity = 32) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new Error(`ScalarLog: capacity must be a positive integer, got ${capacity}`);
    this.store = empty([capacity], 'f32', 'scalar-log').keep();
  }

  /** How many values wait to be read. */
  get count(): number { return this.n; }
  get full(): boolean { return this.n === this.capacity; }

  /** Queues a copy of a one-element f32 tensor (no wait; the tensor may be disposed afterwards). */
  record(x: Tensor): void {
    if (x.size !== 1 || x.dtype !== 'f32') throw new Error(`ScalarLog.record: needs a one-element f32 tensor, got ${fmtShape(x.shape)} ${x.dtype}`);
    if (this.full) throw new Error(`ScalarLog.record: all ${this.capacity} slots are used; read() first`);
    copyBuffer(x.buffer, 0, this.store.buffer, this.n * 4, 4);
    this.n++;
  }

  /** The values recorded since the last read, oldest first (one GPU round trip; none when empty). */
  async read(): Promise<number[]> {
    if (this.n === 0) return [];
    const ab = await readBuffer(this.store.buffer, 0, this.n * 4);
    this.n = 0;
    return Array.from(new Float32Array(ab));
  }

  dispose(): void { this.store.dispose(); }
}
