"""Tests for workers.inference.hardware."""

from __future__ import annotations

from workers.inference.hardware import Bf16Probe, CpuInfo, _cpuinfo_fields, cpu_info

X86 = """processor\t: 0
model name\t: Test Xeon
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 amx_bf16

processor\t: 1
model name\t: Test Xeon
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 amx_bf16
"""
AVX2_ONLY = "model name\t: Test EPYC\nflags\t\t: fpu sse2 avx2 fma\n"


def test_cpuinfo_fields_read_the_model_and_the_flags() -> None:
    # given / when
    model, flags = _cpuinfo_fields(X86)

    # then
    assert model == "Test Xeon"
    assert {"avx2", "avx512_bf16", "amx_bf16"} <= flags
    assert _cpuinfo_fields(AVX2_ONLY)[1] == {"fpu", "sse2", "avx2", "fma"}


def test_signature_changes_with_the_cpu_kind() -> None:
    # given
    native = CpuInfo("Test Xeon", "AVX512", ("avx2", "avx512_bf16"), True, 2)
    same = CpuInfo("Test Xeon", "AVX512", ("avx2", "avx512_bf16"), True, 2)
    avx2 = CpuInfo("Test EPYC", "AVX2", ("avx2",), False, 2)
    more_cores = CpuInfo("Test Xeon", "AVX512", ("avx2", "avx512_bf16"), True, 8)

    # when / then
    assert native.signature() == same.signature()
    assert len({native.signature(), avx2.signature(), more_cores.signature()}) == 3
    assert native.as_dict()["signature"] == native.signature()


def test_describe_names_capability_flags_and_cores() -> None:
    # given
    info = CpuInfo("Test EPYC", "AVX2", ("avx2", "fma"), False, 2)

    # when / then
    assert info.describe() == (
        "Test EPYC; torch capability AVX2; flags avx2 fma; native bf16 no; 2 physical cores"
    )


def test_probe_allows_timer_noise_but_not_a_slower_bf16() -> None:
    # given / when / then
    assert Bf16Probe(fp32_s=1.0, bf16_s=0.01).bf16_not_slower
    assert Bf16Probe(fp32_s=1.0, bf16_s=1.05).bf16_not_slower
    assert not Bf16Probe(fp32_s=0.01, bf16_s=1.0).bf16_not_slower


def test_cpu_info_of_this_machine_is_consistent() -> None:
    # given / when
    info = cpu_info()

    # then
    assert info.physical_cores >= 1
    assert info.torch_capability
    if "avx2" in info.flags:  # x86: the reported flags decide
        assert info.native_bf16 == bool({"avx512_bf16", "amx_bf16"} & set(info.flags))
