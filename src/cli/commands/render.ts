import type { Command } from 'commander';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

// Placeholder registration: the owning module replaces this file with the real command.
export function registerRender(program: Command): void {
  program
    .command('render')
    .description('(not built yet)')
    .action(() => {
      throw new KvgateError(ErrorCode.Internal, '`kvgate render` is not built yet');
    });
}
