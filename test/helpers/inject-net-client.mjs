// A Node net client whose server resets the connection (SO_LINGER {1,0} via resetAndDestroy).
import net from 'node:net';

const server = net.createServer((sock) => sock.resetAndDestroy());
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1');
  client.on('error', (err) => console.log(`client: ${err.code}`));
  client.on('close', () => {
    console.log('client: closed');
    server.close();
  });
});
