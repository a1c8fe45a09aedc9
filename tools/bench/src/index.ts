/**
 * @module @tapwire/bench
 * Benchmarks against peers (tshark, mergecap, tcpdump); `npm run bench` runs them (src/run.ts).
 */
export { benchHttp1Replay } from './http1-replay.js'
export { benchKflEval, measureKflEval, CEL_BENCH_FILTERS, KFL_BENCH_FILTERS } from './kfl-eval.js'
export { replayPipeline } from './replay-pipeline.js'
