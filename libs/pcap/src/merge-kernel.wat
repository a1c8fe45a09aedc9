;; The merge's WebAssembly: a memmove within the arena (arena.ts) and the merge's inner loop for the
;; common export, classic pcap records copied as they are (merge-kernel.ts, pcap-merge.ts).
;; Assembled by `npm run gen:wasm` into merge-kernel.wasm.ts; `npm test` checks the two agree.
;;
;; Why a loop in WebAssembly: in JavaScript each record costs a header parse through DataView
;; calls, a heap fix-up over cursor objects and a call out for the copy, about 50 ns besides the
;; copy itself; here it is a few loads and compares next to the memmove.
(module
  (import "m" "m" (memory 1))

  ;; Copies $len bytes from $src to $dst within the memory (overlap allowed).
  (func (export "copy") (param $dst i32) (param $src i32) (param $len i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $len)))

  ;; The state run() works on, laid out by merge-kernel.ts.
  ;;
  ;; Header at $s:
  ;;   +0  heap size n              +4  1: a timestamp tie goes to the later source, 0: earlier
  ;;   +8  records emitted (out)    +12 why run() stopped (out): 0 the output piece is full,
  ;;                                    1 the top source's next record is not wholly in its read
  ;;                                    piece (JavaScript reads on), 2 the top record is not in
  ;;                                    the memory (JavaScript emits it)
  ;;   +16 the binary min-heap: n source indices, earliest record first
  ;; Sources at $c, 32 bytes each:
  ;;   +0  offset of the current record (out: of the next unread byte after a stop with 1)
  ;;   +4  end of the read piece    +8  record length (16-byte header + captured bytes)
  ;;   +12 1: the record is in the memory    +16 its time, ns since the epoch (i64)
  ;;   +24 ns per unit of the header's fraction (1 or 1000)    +28 set when run() moved it (out)

  ;; Does source $a's record sort before source $b's?
  (func $before (param $s i32) (param $c i32) (param $a i32) (param $b i32) (result i32)
    (local $ka i64) (local $kb i64)
    (local.set $ka (i64.load offset=16 (i32.add (local.get $c) (i32.shl (local.get $a) (i32.const 5)))))
    (local.set $kb (i64.load offset=16 (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 5)))))
    (if (i64.ne (local.get $ka) (local.get $kb))
      (then (return (i64.lt_u (local.get $ka) (local.get $kb)))))
    (if (result i32) (i32.load offset=4 (local.get $s))
      (then (i32.gt_u (local.get $a) (local.get $b)))
      (else (i32.lt_u (local.get $a) (local.get $b)))))

  ;; The top's record changed: moves it down to its place.
  (func $siftDown (param $s i32) (param $c i32) (param $n i32)
    (local $heap i32) (local $i i32) (local $h i32) (local $l i32) (local $k i32) (local $child i32)
    (local.set $heap (i32.add (local.get $s) (i32.const 16)))
    (local.set $h (i32.load (local.get $heap)))
    (block $placed
      (loop $down
        (local.set $l (i32.add (i32.shl (local.get $i) (i32.const 1)) (i32.const 1)))
        (br_if $placed (i32.ge_u (local.get $l) (local.get $n)))
        (local.set $k (local.get $l))
        (if (i32.lt_u (i32.add (local.get $l) (i32.const 1)) (local.get $n))
          (then
            (if (call $before (local.get $s) (local.get $c)
                  (i32.load offset=4 (i32.add (local.get $heap) (i32.shl (local.get $l) (i32.const 2))))
                  (i32.load (i32.add (local.get $heap) (i32.shl (local.get $l) (i32.const 2)))))
              (then (local.set $k (i32.add (local.get $l) (i32.const 1)))))))
        (local.set $child (i32.load (i32.add (local.get $heap) (i32.shl (local.get $k) (i32.const 2)))))
        (br_if $placed (i32.eqz (call $before (local.get $s) (local.get $c) (local.get $child) (local.get $h))))
        (i32.store (i32.add (local.get $heap) (i32.shl (local.get $i) (i32.const 2))) (local.get $child))
        (local.set $i (local.get $k))
        (br $down)))
    (i32.store (i32.add (local.get $heap) (i32.shl (local.get $i) (i32.const 2))) (local.get $h)))

  ;; Moves records into the output from $o while the earliest one fits below $cap and each source's
  ;; next record is wholly in its read piece; returns the output's new end. A record that follows
  ;; the previous one in its read piece extends that one's copy (a run of one source's records).
  (func (export "run") (param $s i32) (param $c i32) (param $o i32) (param $cap i32) (result i32)
    (local $n i32) (local $cp i32) (local $pos i32) (local $rl i32) (local $p i32) (local $end i32)
    (local $caplen i32) (local $count i32) (local $reason i32)
    (local $pd i32) (local $ps i32) (local $pl i32)
    (local.set $n (i32.load (local.get $s)))
    (block $stop
      (loop $next
        (local.set $cp
          (i32.add (local.get $c) (i32.shl (i32.load offset=16 (local.get $s)) (i32.const 5))))
        (local.set $reason (i32.const 2))
        (br_if $stop (i32.eqz (i32.load offset=12 (local.get $cp))))
        (local.set $pos (i32.load (local.get $cp)))
        (local.set $rl (i32.load offset=8 (local.get $cp)))
        (local.set $reason (i32.const 0))
        (br_if $stop (i32.gt_u (i32.add (local.get $o) (local.get $rl)) (local.get $cap)))
        ;; (The pending copy always ends at $o: only its source end needs comparing.)
        (if (i32.and
              (i32.ne (local.get $pl) (i32.const 0))
              (i32.eq (i32.add (local.get $ps) (local.get $pl)) (local.get $pos)))
          (then (local.set $pl (i32.add (local.get $pl) (local.get $rl))))
          (else
            (memory.copy (local.get $pd) (local.get $ps) (local.get $pl))
            (local.set $pd (local.get $o))
            (local.set $ps (local.get $pos))
            (local.set $pl (local.get $rl))))
        (local.set $o (i32.add (local.get $o) (local.get $rl)))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (i32.store offset=28 (local.get $cp) (i32.const 1))
        ;; The next record (draft-ietf-opsawg-pcap §5: a 16-byte header, then the captured bytes),
        ;; unless the piece ends first or its length is impossible (JavaScript reports that).
        (local.set $p (i32.add (local.get $pos) (local.get $rl)))
        (i32.store (local.get $cp) (local.get $p))
        (local.set $end (i32.load offset=4 (local.get $cp)))
        (local.set $reason (i32.const 1))
        (br_if $stop (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 16)))
        (local.set $caplen (i32.load offset=8 (local.get $p)))
        (br_if $stop (i32.gt_u (local.get $caplen) (i32.const 262144)))
        (local.set $rl (i32.add (local.get $caplen) (i32.const 16)))
        (br_if $stop (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (local.get $rl)))
        (i32.store offset=8 (local.get $cp) (local.get $rl))
        ;; A fraction of a second or more carries into the seconds, as the JavaScript path does.
        (i64.store offset=16 (local.get $cp)
          (i64.add
            (i64.mul (i64.extend_i32_u (i32.load (local.get $p))) (i64.const 1000000000))
            (i64.mul
              (i64.extend_i32_u (i32.load offset=4 (local.get $p)))
              (i64.extend_i32_u (i32.load offset=24 (local.get $cp))))))
        (if (i32.gt_u (local.get $n) (i32.const 1))
          (then (call $siftDown (local.get $s) (local.get $c) (local.get $n))))
        (br $next)))
    (memory.copy (local.get $pd) (local.get $ps) (local.get $pl))
    (i32.store offset=8 (local.get $s) (local.get $count))
    (i32.store offset=12 (local.get $s) (local.get $reason))
    (local.get $o))
)
