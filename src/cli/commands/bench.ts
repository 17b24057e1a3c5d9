import type { Command } from 'commander';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

// Placeholder registration: the owning module replaces this file with the real command.
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('(not built yet)')
    .action(() => {
      throw new KvgateError(ErrorCode.Internal, '`kvgate bench` is not built yet');
    });
}
