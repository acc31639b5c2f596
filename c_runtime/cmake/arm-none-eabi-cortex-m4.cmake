# CMake toolchain file: arm-none-eabi-gcc for a Cortex-M4F (hard float), as the QEMU port builds
# (ooc_sdk/run/qemu.py). Libraries only: CMake's compiler check links a static library, not a
# program, since a Cortex-M executable needs the board's startup code and linker script.
#
#   cmake -S . -B build -DCMAKE_TOOLCHAIN_FILE=path/to/arm-none-eabi-cortex-m4.cmake
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_C_FLAGS_INIT "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -ffunction-sections -fdata-sections")
