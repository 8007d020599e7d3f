#!/usr/bin/env node
// bvisor's plain entry: Node loads the modules from dist/ as it starts. bin/bvisor starts the
// CLI from its V8 start-up snapshot instead when it can, and this file when it cannot. Global
// flags are accepted before the command, as container engines call runc (dist/cli/argv.js).
'use strict';

const { hoistGlobals } = require('../dist/cli/argv.js');
const { execute } = require('@oclif/core');
execute({ dir: __dirname, args: hoistGlobals(process.argv.slice(2)) });
