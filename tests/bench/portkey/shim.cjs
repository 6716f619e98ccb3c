// Preloaded into Portkey's gateway by the HTTP benchmark (node --require shim.cjs ...), which
// runs the published build/start-server.js unchanged. That entry point neither takes a listen
// address nor terminates TLS, so this shim:
//   - binds every listener that names no host to BENCH_LISTEN_HOST (127.0.0.1), never to all
//     interfaces;
//   - with BENCH_TLS_CERT and BENCH_TLS_KEY, makes http.createServer an https server with that
//     certificate, so the gateway terminates TLS like the other proxies measured.
// @hono/node-server (ESM) imports createServer from "http"; syncBuiltinESMExports() makes that
// binding see the replacement. Nothing else of the gateway is touched.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const net = require('net');
const { syncBuiltinESMExports } = require('module');

const host = process.env.BENCH_LISTEN_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
	const a0 = args[0];
	if (typeof a0 === 'number' || (typeof a0 === 'string' && /^\d+$/.test(a0))) {
		if (args.length < 2 || args[1] === undefined || args[1] === null) args[1] = host;
		else if (typeof args[1] === 'function') args.splice(1, 0, host);
	} else if (a0 && typeof a0 === 'object' && a0.path === undefined && !a0.host) {
		args[0] = { ...a0, host };
	}
	return listen.apply(this, args);
};

if (process.env.BENCH_TLS_CERT && process.env.BENCH_TLS_KEY) {
	const key = fs.readFileSync(process.env.BENCH_TLS_KEY);
	const cert = fs.readFileSync(process.env.BENCH_TLS_CERT);
	http.createServer = function (opts, handler) {
		if (typeof opts === 'function') {
			handler = opts;
			opts = {};
		}
		return https.createServer({ ...(opts || {}), key, cert, ALPNProtocols: ['http/1.1'] }, handler);
	};
	syncBuiltinESMExports();
}
