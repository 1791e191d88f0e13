/*
 * A scriptable vhost-user backend that runs inside a qtest
 *
 * Copyright (c) 2026 The QEMU fork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VHOST_USER_TEST_BACKEND_H
#define VHOST_USER_TEST_BACKEND_H

#endif
