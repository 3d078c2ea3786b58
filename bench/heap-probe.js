// Loaded with `node --expose-gc --require` into a pgscope under soak: on SIGUSR2 it collects garbage and prints
// the live heap, so a soak compares memory that is really held, not what V8 keeps reserved (RSS).
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  process.stdout.write(`HEAP ${process.memoryUsage().heapUsed}\n`);
});
