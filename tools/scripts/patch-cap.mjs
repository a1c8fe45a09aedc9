#!/usr/bin/env node
// Patches the `cap` libpcap binding in node_modules and rebuilds it (root `postinstall`, and
// setup.sh for checkouts installed before the patch existed). Idempotent: a marker in the source
// says it is done. Why (measured, docs/architecture.md "Capture: the kernel ring"):
//
// 1. cap always asks for immediate mode. With libpcap-dev installed, that selects TPACKET_V2, whose
//    ring has one fixed frame per packet sized for the 65,535-byte snaplen: 65,616 bytes. A 16 MiB
//    buffer then holds 256 packets whatever their size, so any stall of the agent's main thread
//    longer than a few milliseconds at load drops packets in the kernel. Without immediate mode
//    libpcap uses TPACKET_V3, which packs packets into blocks, and a short block timeout bounds the
//    delivery delay. open() gains two optional arguments: `immediate` (default true, cap's
//    behaviour) and the read timeout in ms (default 1000, cap's value).
// 2. cap exposes no pcap_stats(), so kernel drops were invisible. stats() returns libpcap's
//    counters: { received, dropped, ifDropped } (pcap_stats(3PCAP)).
// 3. cap's 'packet' event carries no timestamp, so the agent stamped packets when JavaScript saw
//    them; with TPACKET_V3 a block arrives up to the read timeout late, which would skew times and
//    latencies. The event gains the packet header's time (pcap_pkthdr.ts: seconds, microseconds),
//    the kernel's stamp, as tcpdump writes it.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const source = join(root, 'node_modules', 'cap', 'src', 'binding.cc')
const MARK = '/* tapwire patch 2: open(..., immediate, timeoutMs), stats(), packet timestamps */'

if (!existsSync(source)) {
  console.log('patch-cap: node_modules/cap is not installed; nothing to patch')
  process.exit(0)
}
// The pristine source is kept beside it, so a newer patch applies to cap's own code, not to ours.
const pristine = `${source}.tapwire-orig`
let cc = readFileSync(source, 'utf8')
if (cc.includes(MARK) && !process.argv.includes('--force')) process.exit(0)
if (cc.includes('/* tapwire patch')) {
  if (!existsSync(pristine)) {
    console.error('patch-cap: node_modules/cap carries an older patch and no pristine copy; reinstall it (npm ci)')
    process.exit(1)
  }
  cc = readFileSync(pristine, 'utf8')
} else writeFileSync(pristine, cc)

/** Replaces exactly one occurrence, or fails loudly: a cap upgrade must be looked at by a human. */
function replaceOnce(from, to) {
  const at = cc.indexOf(from)
  if (at < 0 || cc.indexOf(from, at + 1) >= 0) {
    console.error(`patch-cap: cap's binding.cc changed (cannot find exactly one of ${JSON.stringify(from.slice(0, 60))}); review tools/scripts/patch-cap.mjs`)
    process.exit(1)
  }
  cc = cc.slice(0, at) + to + cc.slice(at + from.length)
}

if (!cc.includes(MARK)) {
  replaceOnce(
    '      int buffer_size = Nan::To<int32_t>(info[2]).FromJust();\n',
    '      int buffer_size = Nan::To<int32_t>(info[2]).FromJust();\n' +
      `      ${MARK}\n` +
      '      bool immediate = info.Length() < 5 || !info[4]->IsFalse();\n' +
      '      int timeout_ms = info.Length() > 5 && info[5]->IsUint32() ? Nan::To<int32_t>(info[5]).FromJust() : 1000;\n'
  )
  replaceOnce('pcap_set_timeout(obj->pcap_handle, 1000)', 'pcap_set_timeout(obj->pcap_handle, timeout_ms)')
  replaceOnce('      if (set_immediate_mode != nullptr)\n', '      if (set_immediate_mode != nullptr && immediate)\n')
  replaceOnce(
    '    static NAN_METHOD(Close) {\n',
    '    static NAN_METHOD(Stats) {\n' +
      '      Pcap *obj = Nan::ObjectWrap::Unwrap<Pcap>(info.This());\n' +
      '      if (obj->pcap_handle == nullptr || obj->closing)\n' +
      '        return info.GetReturnValue().SetNull();\n' +
      '      struct pcap_stat ps;\n' +
      '      if (pcap_stats(obj->pcap_handle, &ps) != 0)\n' +
      '        return Nan::ThrowError(pcap_geterr(obj->pcap_handle));\n' +
      '      Local<Object> out = Nan::New<Object>();\n' +
      '      Nan::Set(out, Nan::New<String>("received").ToLocalChecked(), Nan::New<Number>(ps.ps_recv));\n' +
      '      Nan::Set(out, Nan::New<String>("dropped").ToLocalChecked(), Nan::New<Number>(ps.ps_drop));\n' +
      '      Nan::Set(out, Nan::New<String>("ifDropped").ToLocalChecked(), Nan::New<Number>(ps.ps_ifdrop));\n' +
      '      info.GetReturnValue().Set(out);\n' +
      '    }\n\n' +
      '    static NAN_METHOD(Close) {\n'
  )
  replaceOnce(
    '      Local<Value> emit_argv[3] = {\n        Nan::New<String>(packet_symbol),\n        Nan::New<Number>(copy_len),\n        Nan::New<Boolean>(truncated)\n      };\n',
    '      Local<Value> emit_argv[5] = {\n        Nan::New<String>(packet_symbol),\n        Nan::New<Number>(copy_len),\n        Nan::New<Boolean>(truncated),\n' +
      '        Nan::New<Number>((double)pkt_hdr->ts.tv_sec),\n        Nan::New<Number>((double)pkt_hdr->ts.tv_usec)\n      };\n'
  )
  replaceOnce('        3,\n        emit_argv\n', '        5,\n        emit_argv\n')
  replaceOnce(
    '      Nan::SetPrototypeMethod(tpl, "close", Close);\n',
    '      Nan::SetPrototypeMethod(tpl, "close", Close);\n      Nan::SetPrototypeMethod(tpl, "stats", Stats);\n'
  )
  writeFileSync(source, cc)
}

console.log('patch-cap: rebuilding the cap binding (node-gyp)')
execFileSync('npm', ['rebuild', 'cap', '--foreground-scripts'], { cwd: root, stdio: 'inherit' })
