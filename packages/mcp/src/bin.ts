#!/usr/bin/env node
// `spendguard-mcp`: the gateway's command line (the `spendguard mcp` command runs the same `main`).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
