import { describe, it, expect } from 'vitest'
import { FIELD_CATALOGUE } from './catalogue.js'

const TYPES = new Set([
  'string',
  'int',
  'double',
  'bool',
  'timestamp',
  'duration',
  'bytes',
  'list<string>',
  'map<string,string>',
])

describe('FIELD_CATALOGUE', () => {
  it('has unique, well-formed names and known types', () => {
    const names = FIELD_CATALOGUE.map((f) => f.name)
    expect(new Set(names).size).toBe(names.length)
    for (const f of FIELD_CATALOGUE) {
      expect(f.name).toMatch(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/)
      expect(TYPES.has(f.type)).toBe(true)
      expect(f.description.length).toBeGreaterThan(0)
    }
  })

  it('covers the KFL2 variables of every protocol group', () => {
    const byName = new Map(FIELD_CATALOGUE.map((f) => [f.name, f]))
    const expected: [string, string][] = [
      ['src.ip', 'string'],
      ['dst.port', 'int'],
      ['status_code', 'int'],
      ['timestamp', 'timestamp'],
      ['request.headers', 'map<string,string>'],
      ['dns_questions', 'list<string>'],
      ['grpc_status', 'int'],
      ['redis_key', 'string'],
      ['kafka_api_key_name', 'string'],
      ['amqp_method', 'string'],
      ['postgresql_error_code', 'string'],
      ['postgresql_success', 'bool'],
      ['mysql_command', 'string'],
      ['mongodb_collection', 'string'],
      ['tcp_error_type', 'string'],
      ['udp_payload', 'bytes'],
      ['icmp_version', 'int'],
      ['ws_opcode', 'string'],
      ['tls_info', 'string'],
      ['flow_local_bps', 'double'],
      ['conn_l7_detected', 'list<string>'],
      ['http', 'bool'],
      ['udp_flow', 'bool'],
      ['local_labels', 'map<string,string>'],
    ]
    for (const [name, type] of expected) expect(byName.get(name)?.type, name).toBe(type)
    expect(byName.get('redis_key')?.protocol).toBe('redis')
    expect(byName.get('src.ip')?.protocol).toBeUndefined()
  })
})
