// Test-only WebSocket client (RFC 6455) for Node, built on node:http's upgrade and node:crypto: the
// subset of the browser WebSocket API that blobhub-realtime.js uses, plus `sendFrame()` to put raw frames
// on the wire (invalid UTF-8, malformed frames) and `httpStatus` for a refused upgrade. Also the
// DevTools client of the Chromium tests when Node has no global WebSocket.
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export class MiniWebSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  constructor(url, protocols = []) {
    super();
    this.url = url;
    this.readyState = 0;
    this.protocol = "";
    this.binaryType = "blob";
    this.httpStatus = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._buffer = Buffer.alloc(0);
    this._fragments = null;
    this._closeSent = false;
    this._closeEmitted = false;
    const list = typeof protocols === "string" ? [protocols] : protocols;
    const key = randomBytes(16).toString("base64");
    const target = new URL(url.replace(/^ws/, "http"));
    const headers = { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": key };
    if (list.length) headers["Sec-WebSocket-Protocol"] = list.join(", ");
    const req = request(target, { headers, agent: false });
    req.on("upgrade", (res, socket, head) => {
      const accept = createHash("sha1").update(key + GUID).digest("base64");
      if (res.headers["sec-websocket-accept"] !== accept) { socket.destroy(); return this._fail(101); }
      this.protocol = res.headers["sec-websocket-protocol"] ?? "";
      this._socket = socket;
      socket.setNoDelay(true);
      socket.on("data", (data) => this._data(data));
      socket.on("close", () => this._emitClose(1006, ""));
      socket.on("error", () => {});
      this.readyState = 1;
      this._emit("open", new Event("open"));
      if (head.length) this._data(head);
    });
    req.on("response", (res) => { this.httpStatus = res.statusCode; res.resume(); this._fail(res.statusCode); });
    req.on("error", () => this._fail(null));
    req.end();
  }

  send(data) {
    if (this.readyState !== 1) throw new Error("WebSocket is not open");
    if (typeof data === "string") this.sendFrame(1, Buffer.from(data, "utf8"));
    else this.sendFrame(2, Buffer.from(data.buffer ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data));
  }

  close(code, reason = "") {
    if (this.readyState >= 2) return;
    if (this.readyState === 0) { this.readyState = 3; return this._emitClose(1006, ""); }
    this.readyState = 2;
    const body = code === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([code >> 8, code & 255]), Buffer.from(reason)]);
    this._closeSent = true;
    this.sendFrame(8, body);
    setTimeout(() => this._socket?.destroy(), 2000).unref();
  }

  /** Writes one frame: `opcode`, `payload` (Buffer), masked unless `mask: false`, `fin` unless false, `rsv` bits. */
  sendFrame(opcode, payload, { mask = true, fin = true, rsv = 0 } = {}) {
    const length = payload.length;
    const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode)];
    const maskBit = mask ? 0x80 : 0;
    if (length < 126) head.push(maskBit | length);
    else if (length < 65536) head.push(maskBit | 126, length >> 8, length & 255);
    else { head.push(maskBit | 127, 0, 0, 0, 0); const b = Buffer.alloc(4); b.writeUInt32BE(length); head.push(...b); }
    let body = payload;
    const parts = [Buffer.from(head)];
    if (mask) {
      const key = randomBytes(4);
      body = Buffer.from(payload);
      for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
      parts.push(key);
    }
    parts.push(body);
    this._socket.write(Buffer.concat(parts));
  }

  _data(data) {
    this._buffer = Buffer.concat([this._buffer, data]);
    for (;;) {
      const b = this._buffer;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0, opcode = b[0] & 15;
      let length = b[1] & 127, offset = 2;
      if (length === 126) { if (b.length < 4) return; length = b.readUInt16BE(2); offset = 4; }
      else if (length === 127) { if (b.length < 10) return; length = Number(b.readBigUInt64BE(2)); offset = 10; }
      if (b.length < offset + length) return;
      const payload = b.subarray(offset, offset + length);
      this._buffer = b.subarray(offset + length);
      this._frame(fin, opcode, Buffer.from(payload));
    }
  }

  _frame(fin, opcode, payload) {
    if (opcode === 9) return this.sendFrame(10, payload);
    if (opcode === 10) return;
    if (opcode === 8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.subarray(2).toString("utf8");
      if (!this._closeSent) { this._closeSent = true; this.sendFrame(8, payload.subarray(0, 2)); }
      this.readyState = 2;
      this._emitClose(code, reason);
      this._socket.end();
      return;
    }
    if (opcode === 1 || opcode === 2) this._fragments = { opcode, parts: [payload] };
    else if (opcode === 0 && this._fragments) this._fragments.parts.push(payload);
    if (!fin || !this._fragments) return;
    const { opcode: kind, parts } = this._fragments;
    this._fragments = null;
    const whole = Buffer.concat(parts);
    if (this.readyState !== 1) return;   // as a browser: no message after close() was called
    const event = new Event("message");
    event.data = kind === 1 ? whole.toString("utf8") : whole;
    this._emit("message", event);
  }

  _fail(status) {
    if (this._closeEmitted) return;
    this.httpStatus ??= status;
    this._emit("error", new Event("error"));
    this._emitClose(1006, "");
  }

  _emitClose(code, reason) {
    if (this._closeEmitted) return;
    this._closeEmitted = true;
    this.readyState = 3;
    const event = new Event("close");
    event.code = code;
    event.reason = reason;
    event.wasClean = code !== 1006;
    this._emit("close", event);
  }

  _emit(type, event) {
    this.dispatchEvent(event);
    const handler = this["on" + type];
    if (typeof handler === "function") handler.call(this, event);
  }
}
