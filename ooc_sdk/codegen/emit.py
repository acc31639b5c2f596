"""``ooc codegen``: emit the C a firmware project adds to run a model.

Output directory layout::

    ooc_model_<name>.c / .h   const tables: tensors, operators, kernel parameters, weights
    ooc_runtime/              a copy of the runtime (codegen/runtime.py): include/ooc/ (the
                              public headers), src/, sources.txt, its CMakeLists.txt
    CMakeLists.txt            a static library target ``ooc_<name>`` on ``ooc::runtime``
    ooc.mk                    a Makefile fragment: OOC_SRCS, OOC_INCLUDES, OOC_CFLAGS

The header defines ``OOC_MODEL_<NAME>_ARENA_BYTES`` and the input/output sizes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ooc_sdk import __version__
from ooc_sdk.codegen.runtime import copy_runtime, write_build_files
from ooc_sdk.errors import InvalidArgumentError, UnsupportedModelError
from ooc_sdk.formats import tables
from ooc_sdk.lower.memplan import MemoryPlan, plan_memory
from ooc_sdk.lower.prepare import Prepared, prepare_op
from ooc_sdk.lower.prepare.conv import folds_offset, offset_folds
from ooc_sdk.model.ir import DType, Graph

if TYPE_CHECKING:
    from ooc_sdk.plan.fusion.layout import FusionPlan
    from ooc_sdk.plan.schedule import Plan

_C_TYPES = {
    DType.INT8: "int8_t",
    DType.INT32: "int32_t",
    DType.FLOAT32: "float",
    DType.UINT8: "uint8_t",
}
_MAX_TENSORS = tables.NO_TENSOR  # OOC_NO_TENSOR is reserved


@dataclass(frozen=True)
class Generated:
    name: str  # C identifier of the model
    directory: Path
    model_c: Path
    model_h: Path
    arena_bytes: int
    plan: MemoryPlan
    runtime_sources: list[Path]

    def moved_to(self, directory: Path) -> Generated:
        """The same files once their directory has been renamed to ``directory``."""

        def move(p: Path) -> Path:
            return directory / p.relative_to(self.directory)

        return dataclasses.replace(
            self, directory=directory, model_c=move(self.model_c), model_h=move(self.model_h),
            runtime_sources=[move(p) for p in self.runtime_sources],
        )  # fmt: skip


def c_name(name: str) -> str:
    ident = re.sub(r"[^0-9a-zA-Z_]", "_", name).lower().strip("_") or "model"
    return "m_" + ident if ident[0].isdigit() else ident


def _array(values: np.ndarray | list[Any], per_line: int = 24) -> str:
    flat = np.asarray(values).reshape(-1)
    if flat.dtype.kind == "f":
        items = [_c_float(float(v)) for v in flat]
    else:
        items = [str(int(v)) for v in flat.tolist()]
    if not items:
        items = ["0"]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n    " + ",\n    ".join(lines) + "\n}"


def _c_float(v: float) -> str:
    f = float(np.float32(v))
    if not np.isfinite(f):
        raise UnsupportedModelError(f"non-finite float constant {v}")
    return f"{f!r}f" if "e" in repr(f) or "." in repr(f) else f"{f!r}.0f"


class _Emitter:
    """Collects the lines of the model's .c file; ``field_value`` writes an array a parameter
    field points to before the struct that uses it."""

    def __init__(self, graph: Graph, name: str):
        self.graph = graph
        self.name = name
        self.lines: list[str] = []

    def out(self, line: str = "") -> None:
        self.lines.append(line)

    def field_value(self, prefix: str, field: str, value: Any) -> str:
        if isinstance(value, (list, tuple, np.ndarray)):
            arr = np.asarray(value)
            if arr.dtype.kind == "f":
                ctype = "float"
            elif arr.dtype == np.uint16:  # an approximate layer's kept-group lists
                ctype = "uint16_t"
            else:
                ctype = "int32_t"
                if arr.size and (arr.min() < -(1 << 31) or arr.max() >= 1 << 31):
                    raise UnsupportedModelError(f"{prefix}.{field} does not fit int32")
            sym = f"{prefix}_{field.replace('.', '_')}"  # "conv.out_shift": a member's member
            self.out(f"static const {ctype} {sym}[] = {_array(arr)};")
            return sym
        if isinstance(value, float):
            return _c_float(value)
        if isinstance(value, bool):
            return str(int(value))
        return str(int(value))


# Parameter fields that are fixed-size arrays inside the struct (not pointers to const arrays).
_FIXED_ARRAYS = {
    "out_dims",
    "in_dims",
    "in1_strides",
    "in2_strides",
    "in_strides",
    "reduce",
    "pad_before",
    "pad_after",
    "table",
}


@dataclass(frozen=True)
class _Tables:
    """What one model's tables are emitted from: the graph, its plans, the prepared operators
    and the runtime tensor table (``used``: graph tensor indices; ``index``: graph -> runtime)."""

    graph: Graph
    cname: str
    plan: MemoryPlan
    ooc_plan: Plan | None
    fusion: FusionPlan | None
    prepared: list[Prepared]
    used: list[int]
    index: dict[int, int]


def generate_c(
    graph: Graph,
    name: str | None = None,
    ooc_plan: Plan | None = None,
    fusion: FusionPlan | None = None,
) -> tuple[str, str, MemoryPlan, str]:
    """Return (model .c text, model .h text, memory plan, C name). With ``ooc_plan`` (an
    out-of-core plan, ``ooc build``) the constants the kernels read are not emitted: they are
    paged from the flash image, following the plan's schedule. With ``fusion`` the model runs
    the fused schedule (blocks and nodes) in that plan's arena; an out-of-core plan made with
    ``fuse`` brings its own (a fused block's step pages all its operators' weights at once)."""
    t = _tables(graph, c_name(name or graph.name), ooc_plan, fusion)
    return _model_source(t), _model_header(t), t.plan, t.cname


def _tables(graph: Graph, cname: str, ooc_plan: Plan | None, fusion: FusionPlan | None) -> _Tables:
    """Check the plans against each other and lay out the runtime tensor table."""
    if ooc_plan is not None and ooc_plan.fusion is not None:
        if fusion is not None and fusion is not ooc_plan.fusion:
            raise InvalidArgumentError("the out-of-core plan was made for another fused schedule")
        fusion = ooc_plan.fusion
    plan = plan_memory(graph)
    if fusion is not None:
        plan = MemoryPlan(dict(fusion.offsets), fusion.arena_bytes, "fused")
    if ooc_plan is not None and ooc_plan.activation_bytes != plan.arena_bytes:
        raise InvalidArgumentError("the out-of-core plan was made for another activation plan")
    prepared: list[Prepared] = [prepare_op(graph, op) for op in graph.operators]
    for i, op in enumerate(graph.operators):  # biases folded ahead of time (offset_folds)
        if folds_offset(graph, op):
            prepared[i] = dataclasses.replace(
                prepared[i], fields={**prepared[i].fields, "input_offset": 0}
            )

    # Runtime tensor table: activations plus the constants kernels read at run time.
    used = list(graph.activation_tensors)
    for p in prepared:
        for t in p.inputs:
            if t >= 0 and graph.tensors[t].is_constant and t not in used:
                used.append(t)
    if len(used) >= _MAX_TENSORS:
        raise UnsupportedModelError(
            f"{len(used)} tensors exceed the runtime's limit of {_MAX_TENSORS - 1}"
        )
    index = {t: i for i, t in enumerate(used)}
    return _Tables(graph, cname, plan, ooc_plan, fusion, prepared, used, index)


def _model_source(t: _Tables) -> str:
    """The model's .c file: constants, operator parameters, the tables and ``ooc_model_<name>``."""
    graph = t.graph
    e = _Emitter(graph, t.cname)
    e.out(
        f"/* Generated by ooc {__version__} from {graph.name} (sha256 {graph.sha256[:16]}). Do not edit. */"
    )
    e.out(f'#include "ooc_model_{t.cname}.h"')
    e.out('#include "ooc/ooc_kernels.h"')
    e.out()
    _emit_constants(e, t)
    e.out()
    _emit_operators(e, t)
    e.out()
    _emit_tensor_table(e, t)
    _emit_op_table(e, t)
    ins = ", ".join(str(t.index[i]) for i in graph.inputs)
    outs = ", ".join(str(t.index[i]) for i in graph.outputs)
    e.out(f"static const uint16_t model_inputs[] = {{{ins}}};")
    e.out(f"static const uint16_t model_outputs[] = {{{outs}}};")
    paged = _emit_paged(e, t.ooc_plan)
    fused = _emit_fused(e, t)
    e.out()
    e.out(f"const ooc_model_t ooc_model_{t.cname} = {{")
    e.out("    OOC_MODEL_MAGIC, OOC_MODEL_VERSION,")
    e.out(f"    {t.plan.arena_bytes}u,")
    e.out(
        f"    {len(t.used)}u, {len(graph.operators)}u, {len(graph.inputs)}u, {len(graph.outputs)}u,"
    )
    e.out('    tensors, ops, model_inputs, model_outputs, "' + t.cname + '",')
    e.out(paged + ",")
    e.out(fused)
    e.out("};")
    return "\n".join(e.lines) + "\n"


def _emit_paged(e: _Emitter, ooc_plan: Plan | None) -> str:
    """The out-of-core schedule's tables; returns the model's paging fields."""
    if ooc_plan is None:
        return "    0u, 0, 0u, 0u, 0u, 0u, 0, 0"
    _emit_schedule(e, ooc_plan)
    verify = "OOC_VERIFY_AT_BOOT" if ooc_plan.verify == "boot" else "OOC_VERIFY_EVERY_READ"
    return (
        f"    {len(ooc_plan.steps)}u, steps, {len(ooc_plan.chunks)}u, {ooc_plan.slot_bytes}u, "
        f"{ooc_plan.slots}u, {verify}, plan_id, model_sha256"
    )


def _emit_fused(e: _Emitter, t: _Tables) -> str:
    """The fused schedule's tables and spill table; returns the model's fused fields."""
    if t.fusion is None:
        return "    0u, 0u, 0, 0,\n    0u, 0u, 0u, 0"
    n_blocks, n_nodes = _emit_blocks(e, t.fusion, t.index)
    fused = f"    {n_blocks}u, {n_nodes}u, blocks, nodes,\n"
    return fused + _emit_spills(e, t.fusion, t.index, t.ooc_plan)


def _emit_constants(e: _Emitter, t: _Tables) -> None:
    """The data of the constant tensors kernels read (none out of core: they are paged)."""
    e.out("/* ---- constant tensors ---- */")
    if t.ooc_plan is not None:
        return
    for i in t.used:
        tensor = t.graph.tensors[i]
        if tensor.is_constant:
            ctype = _C_TYPES.get(tensor.dtype)
            if ctype is None:
                raise UnsupportedModelError(
                    f"constant '{tensor.name}' of type {tensor.dtype.label}"
                )
            e.out(f"/* {tensor.name} {list(tensor.shape)} */")
            data = offset_folds(t.graph).get(i, tensor.data)
            e.out(f"static const {ctype} t{t.index[i]}_data[] = {_array(data)};")


def _emit_operators(e: _Emitter, t: _Tables) -> None:
    """Each operator's input list and parameter struct (with the arrays its fields point to)."""
    e.out("/* ---- operators ---- */")
    for i, (op, p) in enumerate(zip(t.graph.operators, t.prepared, strict=True)):
        e.out(f"/* op {i}: {op.op_type} */")
        ins = [t.index[x] if x >= 0 else tables.NO_TENSOR for x in p.inputs]
        e.out(f"static const uint16_t op{i}_inputs[] = {{{', '.join(str(v) for v in ins)}}};")
        if p.struct is None:
            continue
        inits = []
        for key, value in p.fields.items():
            if key in _FIXED_ARRAYS:
                vals = [int(v) for v in value]
                inits.append(f".{key} = {{{', '.join(str(v) for v in vals)}}}")
            else:
                inits.append(f".{key} = {e.field_value(f'op{i}', key, value)}")
        e.out(f"static const {p.struct} op{i}_params = {{\n    " + ",\n    ".join(inits) + "\n};")


def _emit_tensor_table(e: _Emitter, t: _Tables) -> None:
    """``tensors``: each runtime tensor's arena offset (or paged / rows marker), size and data."""
    e.out(f"static const ooc_tensor_t tensors[{len(t.used)}] = {{")
    for i in t.used:
        tensor = t.graph.tensors[i]
        if tensor.is_constant and t.ooc_plan is not None:
            e.out(f"    {{OOC_TENSOR_PAGED, {tensor.nbytes}u, 0}}, /* {tensor.name} (flash) */")
        elif tensor.is_constant:
            e.out(f"    {{0u, {tensor.nbytes}u, t{t.index[i]}_data}}, /* {tensor.name} */")
        elif i not in t.plan.offsets:
            e.out(f"    {{OOC_TENSOR_ROWS, {tensor.nbytes}u, 0}}, /* {tensor.name} (rows) */")
        else:
            e.out(f"    {{{t.plan.offsets[i]}u, {tensor.nbytes}u, 0}}, /* {tensor.name} */")
    e.out("};")


def _emit_op_table(e: _Emitter, t: _Tables) -> None:
    """``ops``: each operator's kind, inputs, output and parameters."""
    e.out(f"static const ooc_op_t ops[{max(len(t.prepared), 1)}] = {{")
    for i, (op, p) in enumerate(zip(t.graph.operators, t.prepared, strict=True)):
        params = f"&op{i}_params" if p.struct else "0"
        e.out(
            f"    {{OOC_OP_{p.kind}, {len(p.inputs)}u, op{i}_inputs, {t.index[op.outputs[0]]}u, {params}}},"
        )
    e.out("};")


def _model_header(t: _Tables) -> str:
    """The model's .h file: the arena size, the input and output sizes, the out-of-core figures."""
    graph, ooc_plan, fusion = t.graph, t.ooc_plan, t.fusion
    guard = f"OOC_MODEL_{t.cname.upper()}_H"
    upper = t.cname.upper()
    h = [
        f"/* Generated by ooc {__version__} from {graph.name}. Do not edit. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        '#include "ooc/ooc.h"',
        "",
        "/* Bytes of arena ooc_init() needs for this model (4-byte aligned). */",
        f"#define OOC_MODEL_{upper}_ARENA_BYTES "
        f"{ooc_plan.arena_bytes if ooc_plan else t.plan.arena_bytes}u",
        *(
            [
                "/* Fused schedule: the arena is the working SRAM, then the outputs at its top. */",
                f"#define OOC_MODEL_{upper}_WORKING_BYTES {fusion.working_sram_bytes}u",
            ]
            if fusion is not None
            else []
        ),
        f"#define OOC_MODEL_{upper}_INPUTS {len(graph.inputs)}u",
        f"#define OOC_MODEL_{upper}_OUTPUTS {len(graph.outputs)}u",
    ]
    for kind, ts in (("INPUT", graph.inputs), ("OUTPUT", graph.outputs)):
        for i, x in enumerate(ts):
            tensor = graph.tensors[x]
            h.append(
                f"#define OOC_MODEL_{upper}_{kind}{i}_BYTES {tensor.nbytes}u "
                f"/* {tensor.dtype.label} {list(tensor.shape)} */"
            )
    if ooc_plan is not None:
        h += _out_of_core_defines(upper, ooc_plan)
    h += [
        "",
        f"extern const ooc_model_t ooc_model_{t.cname};",
        "",
        f"#endif /* {guard} */",
        "",
    ]
    return "\n".join(h)


def _out_of_core_defines(upper: str, ooc_plan: Plan) -> list[str]:
    """The header's out-of-core figures: arena split, slots, whole SRAM, stack, spill ring."""
    h = [
        "/* Out-of-core: the arena is the activations, then the chunk slots. The whole SRAM",
        "   figure adds the runtime and crypto state (ooc_ctx_t, ooc_image_t) and the stack. */",
        f"#define OOC_MODEL_{upper}_ACTIVATION_BYTES {ooc_plan.activation_bytes}u",
        f"#define OOC_MODEL_{upper}_SLOT_BYTES {ooc_plan.slot_bytes}u",
        f"#define OOC_MODEL_{upper}_SLOTS {ooc_plan.slots}u",
        f"#define OOC_MODEL_{upper}_SRAM_BYTES {ooc_plan.sram_bytes}u",
        f"#define OOC_MODEL_{upper}_STACK_BOUND_BYTES {ooc_plan.stack_bytes}u",
    ]
    spills = ooc_plan.fusion.spills if ooc_plan.fusion is not None else []
    if spills:
        h += [
            "/* The plan spills activations: mount an ooc_spill_t ring on the image's scratch",
            "   partition with at least SPILL_SECTORS sectors (ooc_spill.h, ooc_config.spill). */",
            f"#define OOC_MODEL_{upper}_SPILLED_TENSORS {len(spills)}u",
            f"#define OOC_MODEL_{upper}_SPILL_SECTORS {ooc_plan.spill.sectors_needed}u",
        ]
    return h


# value -> C name of every node mode (enum ooc_node_mode)
_NODE_MODES = {value: f"OOC_{name}" for name, value in tables.NODE_MODE.values().items()}


def _emit_spills(e: _Emitter, fp: FusionPlan, index: dict[int, int], ooc_plan: Plan | None) -> str:
    """The spill table (ooc_spill_tensor_t); returns the model's spill fields."""
    if not fp.spills:
        return "    0u, 0u, 0u, 0"
    if ooc_plan is None or ooc_plan.spill is None:
        raise UnsupportedModelError("a plan that spills activations needs an out-of-core build")
    e.out()
    e.out("/* ---- spilled activations: {x0, x1, stride, 0, first record} per part ---- */")
    rows = []
    for i, sp in enumerate(fp.spills):
        parts = ", ".join(f"{{{a}u, {b}u, {st}u, 0u, {f}u}}" for a, b, st, f in sp.parts)
        e.out(f"static const ooc_spill_part_t spill{i}_parts[{len(sp.parts)}] = {{{parts}}};")
        rows.append(
            f"    {{{index[sp.tensor]}u, {len(sp.parts)}u, {sp.rows}u, {sp.channels}u, "
            f"{sp.state_offset}u, spill{i}_parts}},"
        )
    e.out(f"static const ooc_spill_tensor_t spills[{len(rows)}] = {{")
    for row in rows:
        e.out(row)
    e.out("};")
    return f"    {len(rows)}u, {ooc_plan.spill.sectors_needed}u, {ooc_plan.flash.sector_bytes}u, spills"


def _emit_blocks(e: _Emitter, fp: FusionPlan, index: dict[int, int]) -> tuple[int, int]:
    """The fused schedule's block and node tables; returns their counts."""
    e.out()
    e.out("/* ---- fused schedule (ooc_sdk/plan/fusion/) ---- */")
    node_rows: list[str] = []
    block_rows: list[str] = []
    for i, b in enumerate(fp.blocks):
        if not b.fused:
            block_rows.append(f"    {{{b.first}u, {b.last - b.first}u, 0u, 0u, 0u, 0u, 0, 0u}},")
            continue
        flat = [v for strip in b.cols for c in strip for v in c]
        e.out(f"static const uint16_t block{i}_cols[] = {_array(flat)};")
        block_rows.append(
            f"    {{{b.first}u, {b.last - b.first}u, {len(node_rows)}u, {len(b.nodes)}u, "
            f"{b.strips}u, 0u, block{i}_cols, {b.scratch_offset}u}},"
        )
        for nd in b.nodes:
            src = [str(q) if q >= 0 else "OOC_NODE_WHOLE" for q in nd.src] + ["OOC_NODE_WHOLE"] * 2
            k, s_, p = nd.deps[0] if nd.deps else (1, 1, 0)
            node_rows.append(
                f"    {{{max(nd.op, 0)}u, {index[nd.tensor]}u, {_NODE_MODES[nd.mode]}, {nd.cap}u, "
                f"{nd.rows}u, {nd.width}u, {nd.channels}u, {{{src[0]}, {src[1]}}}, {k}u, {s_}u, {p}, "
                f"{nd.group}u, {nd.rows_per_load}u, {nd.offset}u}},"
            )
    e.out(f"static const ooc_block_t blocks[{len(block_rows)}] = {{")
    for row in block_rows:
        e.out(row)
    e.out("};")
    e.out(f"static const ooc_node_t nodes[{max(len(node_rows), 1)}] = {{")
    for row in node_rows or ["    {0}"]:
        e.out(row)
    e.out("};")
    return len(block_rows), len(node_rows)


def _emit_schedule(e: _Emitter, p: Plan) -> None:
    e.out()
    e.out(
        "/* ---- out-of-core schedule: {op, chunks, first chunk, c0, c1, fused block, flags} ---- */"
    )
    e.out(f"static const ooc_step_t steps[{max(len(p.steps), 1)}] = {{")
    for s in p.steps:
        if s.c1 >= 1 << 16:
            raise UnsupportedModelError(f"operator {s.op} has more than 65535 output channels")
        block = f"{s.block}u" if s.block >= 0 else "OOC_NO_BLOCK"
        flags = "OOC_STEP_STREAM" if s.repeats else "0u"
        e.out(
            f"    {{{s.op}u, {len(s.pieces)}u, {s.first_chunk}u, {s.c0}u, {s.c1}u, {block}, {flags}}},"
        )
    e.out("};")
    e.out(f"static const uint8_t plan_id[16] = {_array(list(p.plan_id))};")
    e.out(f"static const uint8_t model_sha256[32] = {_array(list(bytes.fromhex(p.graph.sha256)))};")


def write_codegen(
    graph: Graph,
    out_dir: Path,
    name: str | None = None,
    ooc_plan: Plan | None = None,
    fusion: FusionPlan | None = None,
) -> Generated:
    """Write the model tables, the runtime sources and build files into ``out_dir``."""
    model_c, model_h, plan, cname = generate_c(graph, name, ooc_plan, fusion)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        srcs = copy_runtime(out_dir / "ooc_runtime")
        c_path = out_dir / f"ooc_model_{cname}.c"
        h_path = out_dir / f"ooc_model_{cname}.h"
        c_path.write_text(model_c)
        h_path.write_text(model_h)
        write_build_files(out_dir, cname, srcs)
    except OSError as err:
        raise InvalidArgumentError(f"cannot write to {out_dir}: {err.strerror or err}") from None
    return Generated(
        cname,
        out_dir,
        c_path,
        h_path,
        ooc_plan.arena_bytes if ooc_plan else plan.arena_bytes,
        plan,
        [out_dir / "ooc_runtime" / s for s in srcs],
    )
