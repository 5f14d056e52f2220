// What the device module needs from the host it runs in. Under Node that is engine/host-node.ts
// (dawn.node and its work-arounds, files); in a browser there is none (engine/host-browser.ts):
// the adapter comes from navigator.gpu and there are no files. device.ts imports the host as
// `#host`; package.json's "imports" map picks the file by the bundler's or runtime's conditions.

export interface NodeHost {
  /** One of Dawn's adapters, or null when that backend has none. */
  tryAdapter(backend: 'vulkan' | 'opengles' | 'default'): Promise<GPUAdapter | null>;
  /** The widest SIMD width this CPU runs natively. */
  cpuVectorWidth(): number;
  /** Tells llvmpipe its vector width (before the device is created). */
  setNativeVectorWidth(w: number): void;
  /** Whether the user set llvmpipe's own LP_NATIVE_VECTOR_WIDTH (it then wins). */
  nativeVectorWidthSet(): boolean;
  /** Routes setImmediate through a timer while a GPU promise is pending (nested calls share one swap). */
  slowDown(): void;
  restore(): void;
  readFile(path: string): Promise<Uint8Array>;
  /** Writes chunks to `path` atomically (temp file, fsync, rename); `point` marks crash-test fault points. */
  writeFileAtomic(path: string, chunks: Uint8Array[], point?: (name: string) => void): Promise<void>;
}
