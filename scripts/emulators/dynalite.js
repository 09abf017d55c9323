#!/usr/bin/env node
// Starts dynalite (an in-memory DynamoDB emulator) for the Go tests of
// shared/store/dynamostore on 127.0.0.1 and an ephemeral port, prints
// "dynalite listening on <port>" once it accepts connections, and exits when
// its standard input closes (so it never outlives the test process that
// started it) or on SIGTERM/SIGINT.
//
// Usage: node dynalite.js [--createTableMs N]
'use strict'

const dynalite = require('dynalite')

const args = process.argv.slice(2)
let createTableMs = 50
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--createTableMs' && i + 1 < args.length) createTableMs = Number(args[++i])
}

const server = dynalite({ createTableMs, deleteTableMs: createTableMs, updateTableMs: createTableMs })
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`dynalite listening on ${server.address().port}\n`)
})
server.on('error', (err) => {
  process.stderr.write(`dynalite: ${err.stack || err}\n`)
  process.exit(1)
})

// Everything is in memory: nothing to flush, and open keep-alive connections
// must not hold the process up.
const stop = () => process.exit(0)
process.stdin.on('end', stop)
process.stdin.on('error', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
