// Entry used by tests and by bin/kvgate.js when running from source.
import { main } from './main.js';

await main(process.argv);
