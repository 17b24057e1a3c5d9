import { Command, CommanderError } from 'commander';
import { KvgateError } from '../shared/errors.js';
import { registerUp } from './commands/up.js';
import { registerSim } from './commands/sim.js';
import { registerServe } from './commands/serve.js';
import { registerEpp } from './commands/epp.js';
import { registerConfig } from './commands/config.js';
import { registerVerify } from './commands/verify.js';
import { registerBench } from './commands/bench.js';
import { registerSimulate } from './commands/simulate.js';
import { registerCost } from './commands/cost.js';
import { registerRender } from './commands/render.js';
import { registerPreflight } from './commands/preflight.js';
import { registerTop } from './commands/top.js';
import { VERSION } from '../shared/version.js';

/**
 * Builds the `kvgate` program. Each command lives in its own file under commands/ and loads
 * its heavy modules lazily inside its action, so `kvgate --help` stays fast.
 */
export function buildProgram(): Command {
  const program = new Command('kvgate')
    .description('Cache-aware, load-aware router for fleets of LLM model servers (vLLM and compatible)')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .enablePositionalOptions();
  registerUp(program);
  registerSim(program);
  registerServe(program);
  registerEpp(program);
  registerConfig(program);
  registerVerify(program);
  registerBench(program);
  registerSimulate(program);
  registerCost(program);
  registerRender(program);
  registerPreflight(program);
  registerTop(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `kvgate render -o - | head` closes stdout early: that ends the output, it is not a crash.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here with exit code 0.
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof KvgateError) process.stderr.write(`kvgate: ${err.message}\n`);
    else {
      process.stderr.write(`kvgate: ${err instanceof Error ? err.message : String(err)}\n`);
      if (process.env.KVGATE_DEBUG) console.error(err);
    }
    process.exitCode = 1;
    // A command that failed while starting may leave a socket or timer behind; never hang on it.
    setTimeout(() => process.exit(1), 200).unref();
  }
}
