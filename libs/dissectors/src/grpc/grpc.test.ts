import protobuf from 'protobufjs'
import { describe, expect, it } from 'vitest'
import { grpcFrame, concatBytes } from '../http2/test-support.js'
import {
  grpcAttrs,
  grpcWholeMessagesLength,
  isGrpcContentType,
  percentDecode,
  renderGrpcMessages,
  splitGrpcPath,
} from './grpc.js'
import { renderProtobuf } from './protobuf-text.js'

const shopRoot = protobuf.Root.fromJSON({
  nested: {
    shop: {
      nested: {
        Price: { fields: { cents: { type: 'int64', id: 1 }, currency: { type: 'string', id: 2 } } },
        Item: {
          fields: {
            name: { type: 'string', id: 1 },
            qty: { type: 'int32', id: 2 },
            tags: { rule: 'repeated', type: 'string', id: 3 },
            price: { type: 'Price', id: 4 },
            weight: { type: 'double', id: 5 },
            code: { type: 'fixed32', id: 6 },
            delta: { type: 'int32', id: 7 },
            blob: { type: 'bytes', id: 8 },
          },
        },
      },
    },
  },
})
const Item = shopRoot.lookupType('shop.Item')
const encode = (v: Record<string, unknown>): Uint8Array => Item.encode(Item.fromObject(v)).finish()

describe('schema-less protobuf rendering', () => {
  it('renders scalars, strings, nested messages and repeated fields', () => {
    expect(renderProtobuf(encode({ name: 'widget', qty: 3 }))).toBe('{1: "widget", 2: 3}')
    expect(
      renderProtobuf(
        encode({ name: 'w', tags: ['a', 'b'], price: { cents: 1999, currency: 'EUR' } })
      )
    ).toBe('{1: "w", 3: ["a", "b"], 4: {1: 1999, 2: "EUR"}}')
    expect(renderProtobuf(encode({ weight: 1.5, code: 0xdeadbeef }))).toBe(
      '{5: 0x3ff8000000000000, 6: 0xdeadbeef}'
    )
    // Negative int32 is a ten-byte varint (two's complement as uint64).
    expect(renderProtobuf(encode({ delta: -1 }))).toBe('{7: 18446744073709551615}')
    expect(renderProtobuf(encode({ blob: Uint8Array.of(0xff, 0x00, 0xfe) }))).toBe('{8: 0xff00fe}')
    expect(renderProtobuf(new Uint8Array(0))).toBe('{}')
  })

  it('falls back to text or hex for bytes that are no message', () => {
    expect(renderProtobuf(new TextEncoder().encode('{"json":true}'))).toBe('"{\\"json\\":true}"')
    expect(renderProtobuf(Uint8Array.of(0xff, 0xff))).toBe('0xffff')
  })

  it('renders length-prefixed gRPC messages, compressed and cut ones', () => {
    const m = encode({ name: 'widget', qty: 3 })
    const body = concatBytes([
      grpcFrame(m),
      grpcFrame(Uint8Array.of(1, 2, 3), true),
      grpcFrame(m).subarray(0, 8),
    ])
    expect(renderGrpcMessages(body, 10_000)).toBe(
      '{1: "widget", 2: 3}\n<compressed 3 bytes>\n<message of 10 bytes, 3 captured>'
    )
    expect(renderGrpcMessages(Uint8Array.of(0, 0), 100)).toBe(
      '<incomplete message prefix: 2 bytes>'
    )
    expect(
      renderGrpcMessages(concatBytes(Array.from({ length: 50 }, () => grpcFrame(m))), 60).split(
        '\n'
      ).length
    ).toBeLessThan(6)
  })
})

describe('gRPC metadata', () => {
  it('splits paths and percent-decodes grpc-message', () => {
    expect(splitGrpcPath('/helloworld.Greeter/SayHello')).toEqual({
      service: 'helloworld.Greeter',
      method: 'SayHello',
    })
    expect(percentDecode('caf%C3%A9 %25 done%')).toBe('café % done%')
    expect(isGrpcContentType('application/grpc+proto')).toBe(true)
    expect(isGrpcContentType('application/json')).toBe(false)
    expect(grpcAttrs('/a.B/C', { status: undefined, message: undefined })).toEqual([
      { name: 'grpc_method', str: 'C' },
      { name: 'grpc_service', str: 'a.B' },
      { name: 'grpc_status', num: 0 },
      { name: 'grpc_message', str: '' },
    ])
  })
})

describe('whole gRPC messages before a capture gap', () => {
  const a = grpcFrame(Uint8Array.of(0x08, 0x01))
  const b = grpcFrame(Uint8Array.of(0x12, 0x02, 0x68, 0x69))
  const body = concatBytes([a, b])

  it('stops at the last message that ends before the hole', () => {
    expect(grpcWholeMessagesLength(body, body.length)).toBe(body.length)
    expect(grpcWholeMessagesLength(body, body.length - 1)).toBe(a.length)
    expect(grpcWholeMessagesLength(body, a.length + 3)).toBe(a.length)
    expect(grpcWholeMessagesLength(body, 4)).toBe(0)
  })

  it('does not take a compressed flag other than 0 or 1 for a message start', () => {
    const bad = concatBytes([a, Uint8Array.of(7, 0, 0, 0, 0)])
    expect(grpcWholeMessagesLength(bad, bad.length)).toBe(a.length)
  })
})
