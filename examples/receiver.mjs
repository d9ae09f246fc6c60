// A webhook receiver that verifies VSRP's Standard Webhooks signature: node receiver.mjs whsec_…
import http from 'node:http'; import crypto from 'node:crypto';
const key = Buffer.from(process.argv[2].replace(/^whsec_/, ''), 'base64');
http.createServer((req, res) => { let body = ''; req.on('data', c => (body += c)); req.on('end', () => {
  const id = req.headers['webhook-id'], ts = req.headers['webhook-timestamp'];
  const want = 'v1,' + crypto.createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  const ok = Math.abs(Date.now() / 1000 - ts) < 300 && (req.headers['webhook-signature'] || '').split(' ').includes(want);
  console.log(ok ? 'verified' : 'REJECTED', id, body);
  res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify({ code: ok ? 0 : 1, message: ok ? 'success' : 'bad signature' }));
}); }).listen(9090, '127.0.0.1');
