// bench/ws-node-echo.js - the peer for bench/ws.sh: a Node websocket echo
// server with the npm `ws` package.   node ws-node-echo.js PORT
'use strict';
const {WebSocketServer} = require('ws');

const port = parseInt(process.argv[2], 10);
const wss = new WebSocketServer({host: '127.0.0.1', port, perMessageDeflate: false});
wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, {binary: isBinary}));
});
process.on('SIGTERM', () => process.exit(0));
