#!/usr/bin/env node
// The `hyperspace` command: runs functions/cli.ts through tsx's loader, so
// there is no build step (npm install builds only the native addon).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../functions/cli.ts');
process.exitCode = await main(process.argv.slice(2));
