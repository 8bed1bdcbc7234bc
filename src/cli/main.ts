#!/usr/bin/env node
/**
 * The `tally` command line: serve, tenants, tokens, keys, and the evidence
 * tools (verify, export, audit, replay, history).
 */
import { Command } from 'commander';
import { registerAdminCommands } from './admin-commands.js';
import { registerEvidenceCommands } from './evidence-commands.js';
import { registerServe } from './serve-command.js';

const program = new Command();
program.name('tally').description('Tally: a verifiable causal key-value database').version('0.1.0');
registerServe(program);
registerAdminCommands(program);
registerEvidenceCommands(program);

await program.parseAsync(process.argv);
