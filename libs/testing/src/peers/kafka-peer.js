import { createServer } from 'node:net';
class Out {
    parts = [];
    i8(v) {
        const b = Buffer.alloc(1);
        b.writeInt8(v);
        this.parts.push(b);
        return this;
    }
    i16(v) {
        const b = Buffer.alloc(2);
        b.writeInt16BE(v);
        this.parts.push(b);
        return this;
    }
    i32(v) {
        const b = Buffer.alloc(4);
        b.writeInt32BE(v);
        this.parts.push(b);
        return this;
    }
    i64(v) {
        const b = Buffer.alloc(8);
        b.writeBigInt64BE(v);
        this.parts.push(b);
        return this;
    }
    str(s) {
        if (s === null)
            return this.i16(-1);
        const b = Buffer.from(s);
        this.i16(b.length);
        this.parts.push(b);
        return this;
    }
    done() {
        return Buffer.concat(this.parts);
    }
}
class In {
    b;
    pos = 0;
    constructor(b) {
        this.b = b;
    }
    i8() {
        return this.b.readInt8((this.pos += 1) - 1);
    }
    i16() {
        return this.b.readInt16BE((this.pos += 2) - 2);
    }
    i32() {
        return this.b.readInt32BE((this.pos += 4) - 4);
    }
    str() {
        const n = this.i16();
        if (n < 0)
            return null;
        const s = this.b.toString('utf8', this.pos, this.pos + n);
        this.pos += n;
        return s;
    }
    skipBytes() {
        const n = this.i32();
        if (n > 0)
            this.pos += n;
    }
}
const SUPPORTED = [
    [0, 3, 3], // Produce
    [3, 0, 1], // Metadata
    [18, 0, 2], // ApiVersions
];
export async function startKafkaPeer() {
    const produced = new Map();
    const sockets = new Set();
    let port = 0;
    const handle = (msg) => {
        const r = new In(msg);
        const apiKey = r.i16();
        const version = r.i16();
        const correlationId = r.i32();
        r.str(); // client_id
        const o = new Out().i32(correlationId);
        if (apiKey === 18) {
            const supported = SUPPORTED.find(([k]) => k === apiKey);
            if (version > supported[2]) {
                o.i16(35).i32(0);
                return o.done();
            }
            o.i16(0).i32(SUPPORTED.length);
            for (const [k, min, max] of SUPPORTED)
                o.i16(k).i16(min).i16(max);
            if (version >= 1)
                o.i32(0);
            return o.done();
        }
        if (apiKey === 3) {
            const n = r.i32();
            const topics = [];
            for (let i = 0; i < n; i++)
                topics.push(r.str() ?? '');
            o.i32(1).i32(0).str('127.0.0.1').i32(port);
            if (version >= 1)
                o.str(null).i32(0); // rack, controller_id
            o.i32(topics.length);
            for (const t of topics) {
                o.i16(0).str(t);
                if (version >= 1)
                    o.i8(0); // is_internal
                o.i32(1).i16(0).i32(0).i32(0).i32(1).i32(0).i32(1).i32(0); // partition 0, leader 0, replicas [0], isr [0]
            }
            return o.done();
        }
        if (apiKey === 0) {
            r.str(); // transactional_id
            const acks = r.i16();
            r.i32();
            const n = r.i32();
            const results = [];
            for (let i = 0; i < n; i++) {
                const topic = r.str() ?? '';
                const parts = [];
                const pn = r.i32();
                for (let p = 0; p < pn; p++) {
                    parts.push(r.i32());
                    r.skipBytes();
                }
                produced.set(topic, (produced.get(topic) ?? 0) + 1);
                results.push([topic, parts]);
            }
            if (acks === 0)
                return undefined;
            o.i32(results.length);
            for (const [topic, parts] of results) {
                o.str(topic).i32(parts.length);
                for (const p of parts)
                    o.i32(p).i16(topic.startsWith('forbidden') ? 29 : 0).i64(BigInt(produced.get(topic) ?? 0)).i64(-1n);
            }
            o.i32(0);
            return o.done();
        }
        // Anything else: UNSUPPORTED_VERSION in the first field of most responses.
        o.i16(35);
        return o.done();
    };
    const server = createServer((sock) => {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => sock.destroy());
        let buf = Buffer.alloc(0);
        sock.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            while (buf.length >= 4) {
                const size = buf.readInt32BE(0);
                if (buf.length < 4 + size)
                    break;
                const msg = buf.subarray(4, 4 + size);
                buf = buf.subarray(4 + size);
                const resp = handle(msg);
                if (resp) {
                    const len = Buffer.alloc(4);
                    len.writeInt32BE(resp.length);
                    sock.write(Buffer.concat([len, resp]));
                }
            }
        });
    });
    await new Promise((res) => server.listen(0, '127.0.0.1', res));
    port = server.address().port;
    return {
        port,
        produced,
        close: () => new Promise((res) => {
            for (const s of sockets)
                s.destroy();
            server.close(() => res());
        }),
    };
}
//# sourceMappingURL=kafka-peer.js.map