/*
 * fast-method.h — hot methods as shared functions that take a handle, and
 * skip napi_unwrap().
 *
 * An ObjectWrap method finds its C++ object with napi_unwrap(), a private
 * property lookup that costs as much as the rest of a BH schedule.  For the
 * few methods on the per-BH path (BottomHalf.schedule, AioContext.poll,
 * MainContext.iteration) the class also has a static function, made once
 * per addon instance, whose first argument is the object's fast handle: a
 * number the constructor defines as the object's `fastHandle` property and
 * the TS class reads once.  The function finds the object in its class's
 * FastTable with a bounds check and a compare, and takes its one real
 * argument from the same napi_get_cb_info() call, so the call skips
 * Napi::CallbackInfo as well.
 *
 * One function for every object, not one per object: a call site that
 * sees objects made at different times keeps a single target, which V8
 * calls directly.  (Per-object functions, which this file made before,
 * turned those call sites megamorphic in any program that makes more than
 * a few contexts or BHs: about 10-15 ns more per call.)
 *
 * A handle is only a number, checked against the table before anything is
 * read: a forged one, one of another class, or one whose object was
 * destroyed (its slot's generation moved on) makes the function throw a
 * TypeError.  Handles are not secrets: they are predictable, and a number
 * means the same slot in every addon instance (a Worker's too).  The worst
 * a forged or foreign handle can do is reach a live object of the same
 * class in the instance whose function it is passed to, as a reference to
 * that object could; it never reaches freed memory or another class.
 *
 * The call does not pin the object: the object must not be destroyed while
 * its method runs, even if that method runs JS.  Node-API runs the
 * finalizers of wrapped objects (NAPI_VERSION 8, binding.gyp) from a later
 * turn of Node's loop, never inside a native call, and the TS classes hold
 * their native object anyway.
 *
 * JS thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_FAST_METHOD_H
#define AIOCONTEXT_FAST_METHOD_H

#include "errors.h"

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

namespace aiocontext {

/* A hot method's body: @arg is the argument after the handle (undefined if
 * none); it returns the result, or nullptr (undefined, or an exception
 * pending). */
template <typename T>
using FastBody = napi_value (T::*)(napi_env env, napi_value arg);

/*
 * The live objects of one class that have a fast handle, in one addon
 * instance.  A handle is an integer below 2^53: the slot's index in bits
 * 0-27, the table's kind (1-15, one per class) in bits 28-31, the slot's
 * generation in bits 32-52.  A slot's generation moves on when its object
 * goes, so the old handle never finds the object that reuses the slot
 * (until 2^21 reuses of that one slot later, and then it finds a live
 * object of the same class, never freed memory).
 */
template <typename T>
class FastTable {
public:
    explicit FastTable(uint32_t kind) : kind_(kind) {}

    /* Returns @obj's new handle. */
    double Add(T *obj)
    {
        uint32_t index;

        if (!free_.empty()) {
            index = free_.back();
            free_.pop_back();
        } else {
            index = static_cast<uint32_t>(slots_.size());
            g_assert(index < kIndexLimit);
            slots_.push_back(Slot{nullptr, 0});
        }
        slots_[index].obj = obj;
        return static_cast<double>(Compose(index, slots_[index].gen));
    }

    /* @handle's object is going: the handle finds nothing from now on. */
    void Remove(double handle)
    {
        uint32_t index = static_cast<uint32_t>(static_cast<uint64_t>(handle) &
                                               (kIndexLimit - 1));
        Slot &slot = slots_[index];

        slot.obj = nullptr;
        slot.gen = (slot.gen + 1) & (kGenLimit - 1);
        free_.push_back(index);
    }

    /* Whether @handle is an integer of this table's kind. */
    bool IsOurs(double handle) const
    {
        return handle >= 0 && handle < 9007199254740992.0 /* 2^53 */ &&
               std::floor(handle) == handle &&
               ((static_cast<uint64_t>(handle) >> kIndexBits) & 0xf) == kind_;
    }

    /* The live object of a handle IsOurs() accepted, or nullptr. */
    T *Find(double handle) const
    {
        auto h = static_cast<uint64_t>(handle);
        uint32_t index = static_cast<uint32_t>(h & (kIndexLimit - 1));
        auto gen = static_cast<uint32_t>(h >> 32);

        if (index >= slots_.size() || slots_[index].gen != gen) {
            return nullptr;
        }
        return slots_[index].obj;
    }

private:
    static constexpr unsigned kIndexBits = 28;
    static constexpr uint32_t kIndexLimit = 1u << kIndexBits;
    static constexpr uint32_t kGenLimit = 1u << 21;

    struct Slot {
        T *obj;       /* null while the slot is free */
        uint32_t gen; /* bits 32-52 of the handles of this slot */
    };

    uint64_t Compose(uint32_t index, uint32_t gen) const
    {
        return (static_cast<uint64_t>(gen) << 32) |
               (static_cast<uint64_t>(kind_) << kIndexBits) | index;
    }

    uint32_t kind_;
    std::vector<Slot> slots_;
    std::vector<uint32_t> free_;
};

/*
 * An object's entry in its FastTable, a member of the object: removed when
 * the object is destroyed.  It shares the table, so the order in which the
 * environment's teardown frees the addon and the objects does not matter.
 */
template <typename T>
class FastHandle {
public:
    FastHandle() = default;
    FastHandle(const FastHandle &) = delete;
    FastHandle &operator=(const FastHandle &) = delete;
    ~FastHandle() { Clear(); }

    /*
     * Enters @self in @table and defines `fastHandle` on @obj, a
     * non-enumerable, read-only number.  Returns: false on failure, with
     * an exception pending unless the environment is going (a Worker
     * terminated in this call).
     */
    bool Define(napi_env env, napi_value obj,
                const std::shared_ptr<FastTable<T>> &table, T *self)
    {
        napi_value value;

        Clear();
        table_ = table;
        handle_ = table->Add(self);
        if (napi_create_double(env, handle_, &value) != napi_ok) {
            return false;
        }
        napi_property_descriptor desc = {"fastHandle", nullptr, nullptr,
                                         nullptr,      nullptr, value,
                                         napi_default, nullptr};
        return napi_define_properties(env, obj, 1, &desc) == napi_ok;
    }

    /* The object is going (idempotent). */
    void Clear()
    {
        if (table_) {
            table_->Remove(handle_);
            table_.reset();
        }
    }

private:
    std::shared_ptr<FastTable<T>> table_;
    double handle_ = 0;
};

/* The shared function: (handle, arg) -> Body(arg).  Its data is the
 * class's table. */
template <typename T, FastBody<T> Body>
napi_value FastFunctionTrampoline(napi_env env, napi_callback_info cbinfo)
{
    napi_value argv[2];
    size_t argc = 2;
    void *data = nullptr;
    double handle = -1;

    if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data) != napi_ok) {
        return nullptr;
    }
    auto *table = static_cast<const FastTable<T> *>(data);
    if (argc < 1 || napi_get_value_double(env, argv[0], &handle) != napi_ok ||
        !table->IsOurs(handle)) {
        ThrowTypeError(env, "argument 0 must be the object's fast handle");
        return nullptr;
    }
    T *self = table->Find(handle);
    if (!self) {
        ThrowTypeError(env, "the native object of this handle is gone");
        return nullptr;
    }
    return (self->*Body)(env, argv[1]); /* undefined if argc < 2 */
}

/*
 * Makes the shared function of @Body, for the class's static property
 * @name (DefineClass's StaticValue).  @table must outlive the function
 * (the addon holds it until the environment's teardown).  Returns: an
 * empty value with an exception pending on failure.
 */
template <typename T, FastBody<T> Body>
Napi::Value NewFastFunction(Napi::Env env, const char *name,
                            FastTable<T> *table)
{
    napi_value fn;

    if (napi_create_function(env, name, NAPI_AUTO_LENGTH,
                             FastFunctionTrampoline<T, Body>, table,
                             &fn) != napi_ok) {
        return Napi::Value();
    }
    return Napi::Value(env, fn);
}

/* The prototype's method of the same name, for calls on the native object
 * itself (tests, Reflect.apply on the prototype). */
template <typename T, FastBody<T> Body>
Napi::Value FastMethodOnPrototype(T *self, const Napi::CallbackInfo &info)
{
    return Napi::Value(info.Env(), (self->*Body)(info.Env(), info[0]));
}

} // namespace aiocontext

#endif /* AIOCONTEXT_FAST_METHOD_H */
