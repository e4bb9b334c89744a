/** The server's entry point (`node dist/main.js`, `npm start`); `runbox serve` is the same. */
import { serve } from './cli/serve';

serve().catch((err: unknown) => {
  console.error('runbox: failed to start:', err);
  process.exit(1);
});
