// Experiments: spec loading and validation, sweeps, run ids, executors, verification.
import Training
import RunStore
