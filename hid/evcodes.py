"""Linux evdev event types and codes as a static table (no python-evdev needed at runtime).

Every ``EV_*``, ``SYN_*``, ``KEY_*``, ``BTN_*``, ``REL_*``, ``ABS_*``, ``MSC_*``, ``LED_*`` and
``REP_*`` name is a module constant (``from hid.evcodes import EV_KEY, KEY_A``). The block
between the markers below is generated once from python-evdev by ``tests/hid/evcodes_gen.py``;
a test checks it still matches the installed python-evdev.

* ``CODES``: every name (aliases included) → code; ``TYPES``: ``EV_*`` name → type.
* ``code_name(type_, code)``: the kernel's primary name, or the decimal number when the code
  has no name (so ``parse_code(t, code_name(t, c)) == c`` for every valid code).
* ``parse_type`` / ``parse_code``: config and API input (a name, a number, or a numeric string
  such as ``"0x1e"``) → int, raising :class:`~kvmswitchd.errors.InputError`.
"""

from __future__ import annotations

from typing import Final

from kvmswitchd.errors import InputError

# --- BEGIN GENERATED TABLE (tests/hid/evcodes_gen.py; do not edit by hand) ---
# Source: python-evdev 2.0.0 ``evdev.ecodes``.

EV_SYN: Final = 0
EV_KEY: Final = 1
EV_REL: Final = 2
EV_ABS: Final = 3
EV_MSC: Final = 4
EV_SW: Final = 5
EV_LED: Final = 17
EV_SND: Final = 18
EV_REP: Final = 20
EV_FF: Final = 21
EV_PWR: Final = 22
EV_FF_STATUS: Final = 23

SYN_REPORT: Final = 0
SYN_CONFIG: Final = 1
SYN_MT_REPORT: Final = 2
SYN_DROPPED: Final = 3

KEY_RESERVED: Final = 0
KEY_ESC: Final = 1
KEY_1: Final = 2
KEY_2: Final = 3
KEY_3: Final = 4
KEY_4: Final = 5
KEY_5: Final = 6
KEY_6: Final = 7
KEY_7: Final = 8
KEY_8: Final = 9
KEY_9: Final = 10
KEY_0: Final = 11
KEY_MINUS: Final = 12
KEY_EQUAL: Final = 13
KEY_BACKSPACE: Final = 14
KEY_TAB: Final = 15
KEY_Q: Final = 16
KEY_W: Final = 17
KEY_E: Final = 18
KEY_R: Final = 19
KEY_T: Final = 20
KEY_Y: Final = 21
KEY_U: Final = 22
KEY_I: Final = 23
KEY_O: Final = 24
KEY_P: Final = 25
KEY_LEFTBRACE: Final = 26
KEY_RIGHTBRACE: Final = 27
KEY_ENTER: Final = 28
KEY_LEFTCTRL: Final = 29
KEY_A: Final = 30
KEY_S: Final = 31
KEY_D: Final = 32
KEY_F: Final = 33
KEY_G: Final = 34
KEY_H: Final = 35
KEY_J: Final = 36
KEY_K: Final = 37
KEY_L: Final = 38
KEY_SEMICOLON: Final = 39
KEY_APOSTROPHE: Final = 40
KEY_GRAVE: Final = 41
KEY_LEFTSHIFT: Final = 42
KEY_BACKSLASH: Final = 43
KEY_Z: Final = 44
KEY_X: Final = 45
KEY_C: Final = 46
KEY_V: Final = 47
KEY_B: Final = 48
KEY_N: Final = 49
KEY_M: Final = 50
KEY_COMMA: Final = 51
KEY_DOT: Final = 52
KEY_SLASH: Final = 53
KEY_RIGHTSHIFT: Final = 54
KEY_KPASTERISK: Final = 55
KEY_LEFTALT: Final = 56
KEY_SPACE: Final = 57
KEY_CAPSLOCK: Final = 58
KEY_F1: Final = 59
KEY_F2: Final = 60
KEY_F3: Final = 61
KEY_F4: Final = 62
KEY_F5: Final = 63
KEY_F6: Final = 64
KEY_F7: Final = 65
KEY_F8: Final = 66
KEY_F9: Final = 67
KEY_F10: Final = 68
KEY_NUMLOCK: Final = 69
KEY_SCROLLLOCK: Final = 70
KEY_KP7: Final = 71
KEY_KP8: Final = 72
KEY_KP9: Final = 73
KEY_KPMINUS: Final = 74
KEY_KP4: Final = 75
KEY_KP5: Final = 76
KEY_KP6: Final = 77
KEY_KPPLUS: Final = 78
KEY_KP1: Final = 79
KEY_KP2: Final = 80
KEY_KP3: Final = 81
KEY_KP0: Final = 82
KEY_KPDOT: Final = 83
KEY_ZENKAKUHANKAKU: Final = 85
KEY_102ND: Final = 86
KEY_F11: Final = 87
KEY_F12: Final = 88
KEY_RO: Final = 89
KEY_KATAKANA: Final = 90
KEY_HIRAGANA: Final = 91
KEY_HENKAN: Final = 92
KEY_KATAKANAHIRAGANA: Final = 93
KEY_MUHENKAN: Final = 94
KEY_KPJPCOMMA: Final = 95
KEY_KPENTER: Final = 96
KEY_RIGHTCTRL: Final = 97
KEY_KPSLASH: Final = 98
KEY_SYSRQ: Final = 99
KEY_RIGHTALT: Final = 100
KEY_LINEFEED: Final = 101
KEY_HOME: Final = 102
KEY_UP: Final = 103
KEY_PAGEUP: Final = 104
KEY_LEFT: Final = 105
KEY_RIGHT: Final = 106
KEY_END: Final = 107
KEY_DOWN: Final = 108
KEY_PAGEDOWN: Final = 109
KEY_INSERT: Final = 110
KEY_DELETE: Final = 111
KEY_MACRO: Final = 112
KEY_MUTE: Final = 113
KEY_MIN_INTERESTING: Final = 113
KEY_VOLUMEDOWN: Final = 114
KEY_VOLUMEUP: Final = 115
KEY_POWER: Final = 116
KEY_KPEQUAL: Final = 117
KEY_KPPLUSMINUS: Final = 118
KEY_PAUSE: Final = 119
KEY_SCALE: Final = 120
KEY_KPCOMMA: Final = 121
KEY_HANGEUL: Final = 122
KEY_HANGUEL: Final = 122
KEY_HANJA: Final = 123
KEY_YEN: Final = 124
KEY_LEFTMETA: Final = 125
KEY_RIGHTMETA: Final = 126
KEY_COMPOSE: Final = 127
KEY_STOP: Final = 128
KEY_AGAIN: Final = 129
KEY_PROPS: Final = 130
KEY_UNDO: Final = 131
KEY_FRONT: Final = 132
KEY_COPY: Final = 133
KEY_OPEN: Final = 134
KEY_PASTE: Final = 135
KEY_FIND: Final = 136
KEY_CUT: Final = 137
KEY_HELP: Final = 138
KEY_MENU: Final = 139
KEY_CALC: Final = 140
KEY_SETUP: Final = 141
KEY_SLEEP: Final = 142
KEY_WAKEUP: Final = 143
KEY_FILE: Final = 144
KEY_SENDFILE: Final = 145
KEY_DELETEFILE: Final = 146
KEY_XFER: Final = 147
KEY_PROG1: Final = 148
KEY_PROG2: Final = 149
KEY_WWW: Final = 150
KEY_MSDOS: Final = 151
KEY_SCREENLOCK: Final = 152
KEY_COFFEE: Final = 152
KEY_ROTATE_DISPLAY: Final = 153
KEY_DIRECTION: Final = 153
KEY_CYCLEWINDOWS: Final = 154
KEY_MAIL: Final = 155
KEY_BOOKMARKS: Final = 156
KEY_COMPUTER: Final = 157
KEY_BACK: Final = 158
KEY_FORWARD: Final = 159
KEY_CLOSECD: Final = 160
KEY_EJECTCD: Final = 161
KEY_EJECTCLOSECD: Final = 162
KEY_NEXTSONG: Final = 163
KEY_PLAYPAUSE: Final = 164
KEY_PREVIOUSSONG: Final = 165
KEY_STOPCD: Final = 166
KEY_RECORD: Final = 167
KEY_REWIND: Final = 168
KEY_PHONE: Final = 169
KEY_ISO: Final = 170
KEY_CONFIG: Final = 171
KEY_HOMEPAGE: Final = 172
KEY_REFRESH: Final = 173
KEY_EXIT: Final = 174
KEY_MOVE: Final = 175
KEY_EDIT: Final = 176
KEY_SCROLLUP: Final = 177
KEY_SCROLLDOWN: Final = 178
KEY_KPLEFTPAREN: Final = 179
KEY_KPRIGHTPAREN: Final = 180
KEY_NEW: Final = 181
KEY_REDO: Final = 182
KEY_F13: Final = 183
KEY_F14: Final = 184
KEY_F15: Final = 185
KEY_F16: Final = 186
KEY_F17: Final = 187
KEY_F18: Final = 188
KEY_F19: Final = 189
KEY_F20: Final = 190
KEY_F21: Final = 191
KEY_F22: Final = 192
KEY_F23: Final = 193
KEY_F24: Final = 194
KEY_PLAYCD: Final = 200
KEY_PAUSECD: Final = 201
KEY_PROG3: Final = 202
KEY_PROG4: Final = 203
KEY_ALL_APPLICATIONS: Final = 204
KEY_DASHBOARD: Final = 204
KEY_SUSPEND: Final = 205
KEY_CLOSE: Final = 206
KEY_PLAY: Final = 207
KEY_FASTFORWARD: Final = 208
KEY_BASSBOOST: Final = 209
KEY_PRINT: Final = 210
KEY_HP: Final = 211
KEY_CAMERA: Final = 212
KEY_SOUND: Final = 213
KEY_QUESTION: Final = 214
KEY_EMAIL: Final = 215
KEY_CHAT: Final = 216
KEY_SEARCH: Final = 217
KEY_CONNECT: Final = 218
KEY_FINANCE: Final = 219
KEY_SPORT: Final = 220
KEY_SHOP: Final = 221
KEY_ALTERASE: Final = 222
KEY_CANCEL: Final = 223
KEY_BRIGHTNESSDOWN: Final = 224
KEY_BRIGHTNESSUP: Final = 225
KEY_MEDIA: Final = 226
KEY_SWITCHVIDEOMODE: Final = 227
KEY_KBDILLUMTOGGLE: Final = 228
KEY_KBDILLUMDOWN: Final = 229
KEY_KBDILLUMUP: Final = 230
KEY_SEND: Final = 231
KEY_REPLY: Final = 232
KEY_FORWARDMAIL: Final = 233
KEY_SAVE: Final = 234
KEY_DOCUMENTS: Final = 235
KEY_BATTERY: Final = 236
KEY_BLUETOOTH: Final = 237
KEY_WLAN: Final = 238
KEY_UWB: Final = 239
KEY_UNKNOWN: Final = 240
KEY_VIDEO_NEXT: Final = 241
KEY_VIDEO_PREV: Final = 242
KEY_BRIGHTNESS_CYCLE: Final = 243
KEY_BRIGHTNESS_AUTO: Final = 244
KEY_BRIGHTNESS_ZERO: Final = 244
KEY_DISPLAY_OFF: Final = 245
KEY_WWAN: Final = 246
KEY_WIMAX: Final = 246
KEY_RFKILL: Final = 247
KEY_MICMUTE: Final = 248

BTN_0: Final = 256
BTN_MISC: Final = 256
BTN_1: Final = 257
BTN_2: Final = 258
BTN_3: Final = 259
BTN_4: Final = 260
BTN_5: Final = 261
BTN_6: Final = 262
BTN_7: Final = 263
BTN_8: Final = 264
BTN_9: Final = 265
BTN_LEFT: Final = 272
BTN_MOUSE: Final = 272
BTN_RIGHT: Final = 273
BTN_MIDDLE: Final = 274
BTN_SIDE: Final = 275
BTN_EXTRA: Final = 276
BTN_FORWARD: Final = 277
BTN_BACK: Final = 278
BTN_TASK: Final = 279
BTN_TRIGGER: Final = 288
BTN_JOYSTICK: Final = 288
BTN_THUMB: Final = 289
BTN_THUMB2: Final = 290
BTN_TOP: Final = 291
BTN_TOP2: Final = 292
BTN_PINKIE: Final = 293
BTN_BASE: Final = 294
BTN_BASE2: Final = 295
BTN_BASE3: Final = 296
BTN_BASE4: Final = 297
BTN_BASE5: Final = 298
BTN_BASE6: Final = 299
BTN_DEAD: Final = 303
BTN_SOUTH: Final = 304
BTN_A: Final = 304
BTN_GAMEPAD: Final = 304
BTN_EAST: Final = 305
BTN_B: Final = 305
BTN_C: Final = 306
BTN_NORTH: Final = 307
BTN_X: Final = 307
BTN_WEST: Final = 308
BTN_Y: Final = 308
BTN_Z: Final = 309
BTN_TL: Final = 310
BTN_TR: Final = 311
BTN_TL2: Final = 312
BTN_TR2: Final = 313
BTN_SELECT: Final = 314
BTN_START: Final = 315
BTN_MODE: Final = 316
BTN_THUMBL: Final = 317
BTN_THUMBR: Final = 318
BTN_TOOL_PEN: Final = 320
BTN_DIGI: Final = 320
BTN_TOOL_RUBBER: Final = 321
BTN_TOOL_BRUSH: Final = 322
BTN_TOOL_PENCIL: Final = 323
BTN_TOOL_AIRBRUSH: Final = 324
BTN_TOOL_FINGER: Final = 325
BTN_TOOL_MOUSE: Final = 326
BTN_TOOL_LENS: Final = 327
BTN_TOOL_QUINTTAP: Final = 328
BTN_STYLUS3: Final = 329
BTN_TOUCH: Final = 330
BTN_STYLUS: Final = 331
BTN_STYLUS2: Final = 332
BTN_TOOL_DOUBLETAP: Final = 333
BTN_TOOL_TRIPLETAP: Final = 334
BTN_TOOL_QUADTAP: Final = 335
BTN_GEAR_DOWN: Final = 336
BTN_WHEEL: Final = 336
BTN_GEAR_UP: Final = 337

KEY_OK: Final = 352
KEY_SELECT: Final = 353
KEY_GOTO: Final = 354
KEY_CLEAR: Final = 355
KEY_POWER2: Final = 356
KEY_OPTION: Final = 357
KEY_INFO: Final = 358
KEY_TIME: Final = 359
KEY_VENDOR: Final = 360
KEY_ARCHIVE: Final = 361
KEY_PROGRAM: Final = 362
KEY_CHANNEL: Final = 363
KEY_FAVORITES: Final = 364
KEY_EPG: Final = 365
KEY_PVR: Final = 366
KEY_MHP: Final = 367
KEY_LANGUAGE: Final = 368
KEY_TITLE: Final = 369
KEY_SUBTITLE: Final = 370
KEY_ANGLE: Final = 371
KEY_FULL_SCREEN: Final = 372
KEY_ZOOM: Final = 372
KEY_MODE: Final = 373
KEY_KEYBOARD: Final = 374
KEY_ASPECT_RATIO: Final = 375
KEY_SCREEN: Final = 375
KEY_PC: Final = 376
KEY_TV: Final = 377
KEY_TV2: Final = 378
KEY_VCR: Final = 379
KEY_VCR2: Final = 380
KEY_SAT: Final = 381
KEY_SAT2: Final = 382
KEY_CD: Final = 383
KEY_TAPE: Final = 384
KEY_RADIO: Final = 385
KEY_TUNER: Final = 386
KEY_PLAYER: Final = 387
KEY_TEXT: Final = 388
KEY_DVD: Final = 389
KEY_AUX: Final = 390
KEY_MP3: Final = 391
KEY_AUDIO: Final = 392
KEY_VIDEO: Final = 393
KEY_DIRECTORY: Final = 394
KEY_LIST: Final = 395
KEY_MEMO: Final = 396
KEY_CALENDAR: Final = 397
KEY_RED: Final = 398
KEY_GREEN: Final = 399
KEY_YELLOW: Final = 400
KEY_BLUE: Final = 401
KEY_CHANNELUP: Final = 402
KEY_CHANNELDOWN: Final = 403
KEY_FIRST: Final = 404
KEY_LAST: Final = 405
KEY_AB: Final = 406
KEY_NEXT: Final = 407
KEY_RESTART: Final = 408
KEY_SLOW: Final = 409
KEY_SHUFFLE: Final = 410
KEY_BREAK: Final = 411
KEY_PREVIOUS: Final = 412
KEY_DIGITS: Final = 413
KEY_TEEN: Final = 414
KEY_TWEN: Final = 415
KEY_VIDEOPHONE: Final = 416
KEY_GAMES: Final = 417
KEY_ZOOMIN: Final = 418
KEY_ZOOMOUT: Final = 419
KEY_ZOOMRESET: Final = 420
KEY_WORDPROCESSOR: Final = 421
KEY_EDITOR: Final = 422
KEY_SPREADSHEET: Final = 423
KEY_GRAPHICSEDITOR: Final = 424
KEY_PRESENTATION: Final = 425
KEY_DATABASE: Final = 426
KEY_NEWS: Final = 427
KEY_VOICEMAIL: Final = 428
KEY_ADDRESSBOOK: Final = 429
KEY_MESSENGER: Final = 430
KEY_DISPLAYTOGGLE: Final = 431
KEY_BRIGHTNESS_TOGGLE: Final = 431
KEY_SPELLCHECK: Final = 432
KEY_LOGOFF: Final = 433
KEY_DOLLAR: Final = 434
KEY_EURO: Final = 435
KEY_FRAMEBACK: Final = 436
KEY_FRAMEFORWARD: Final = 437
KEY_CONTEXT_MENU: Final = 438
KEY_MEDIA_REPEAT: Final = 439
KEY_10CHANNELSUP: Final = 440
KEY_10CHANNELSDOWN: Final = 441
KEY_IMAGES: Final = 442
KEY_NOTIFICATION_CENTER: Final = 444
KEY_PICKUP_PHONE: Final = 445
KEY_HANGUP_PHONE: Final = 446
KEY_LINK_PHONE: Final = 447
KEY_DEL_EOL: Final = 448
KEY_DEL_EOS: Final = 449
KEY_INS_LINE: Final = 450
KEY_DEL_LINE: Final = 451
KEY_FN: Final = 464
KEY_FN_ESC: Final = 465
KEY_FN_F1: Final = 466
KEY_FN_F2: Final = 467
KEY_FN_F3: Final = 468
KEY_FN_F4: Final = 469
KEY_FN_F5: Final = 470
KEY_FN_F6: Final = 471
KEY_FN_F7: Final = 472
KEY_FN_F8: Final = 473
KEY_FN_F9: Final = 474
KEY_FN_F10: Final = 475
KEY_FN_F11: Final = 476
KEY_FN_F12: Final = 477
KEY_FN_1: Final = 478
KEY_FN_2: Final = 479
KEY_FN_D: Final = 480
KEY_FN_E: Final = 481
KEY_FN_F: Final = 482
KEY_FN_S: Final = 483
KEY_FN_B: Final = 484
KEY_FN_RIGHT_SHIFT: Final = 485
KEY_BRL_DOT1: Final = 497
KEY_BRL_DOT2: Final = 498
KEY_BRL_DOT3: Final = 499
KEY_BRL_DOT4: Final = 500
KEY_BRL_DOT5: Final = 501
KEY_BRL_DOT6: Final = 502
KEY_BRL_DOT7: Final = 503
KEY_BRL_DOT8: Final = 504
KEY_BRL_DOT9: Final = 505
KEY_BRL_DOT10: Final = 506
KEY_NUMERIC_0: Final = 512
KEY_NUMERIC_1: Final = 513
KEY_NUMERIC_2: Final = 514
KEY_NUMERIC_3: Final = 515
KEY_NUMERIC_4: Final = 516
KEY_NUMERIC_5: Final = 517
KEY_NUMERIC_6: Final = 518
KEY_NUMERIC_7: Final = 519
KEY_NUMERIC_8: Final = 520
KEY_NUMERIC_9: Final = 521
KEY_NUMERIC_STAR: Final = 522
KEY_NUMERIC_POUND: Final = 523
KEY_NUMERIC_A: Final = 524
KEY_NUMERIC_B: Final = 525
KEY_NUMERIC_C: Final = 526
KEY_NUMERIC_D: Final = 527
KEY_CAMERA_FOCUS: Final = 528
KEY_WPS_BUTTON: Final = 529
KEY_TOUCHPAD_TOGGLE: Final = 530
KEY_TOUCHPAD_ON: Final = 531
KEY_TOUCHPAD_OFF: Final = 532
KEY_CAMERA_ZOOMIN: Final = 533
KEY_CAMERA_ZOOMOUT: Final = 534
KEY_CAMERA_UP: Final = 535
KEY_CAMERA_DOWN: Final = 536
KEY_CAMERA_LEFT: Final = 537
KEY_CAMERA_RIGHT: Final = 538
KEY_ATTENDANT_ON: Final = 539
KEY_ATTENDANT_OFF: Final = 540
KEY_ATTENDANT_TOGGLE: Final = 541
KEY_LIGHTS_TOGGLE: Final = 542

BTN_DPAD_UP: Final = 544
BTN_DPAD_DOWN: Final = 545
BTN_DPAD_LEFT: Final = 546
BTN_DPAD_RIGHT: Final = 547

KEY_ALS_TOGGLE: Final = 560
KEY_ROTATE_LOCK_TOGGLE: Final = 561
KEY_REFRESH_RATE_TOGGLE: Final = 562
KEY_BUTTONCONFIG: Final = 576
KEY_TASKMANAGER: Final = 577
KEY_JOURNAL: Final = 578
KEY_CONTROLPANEL: Final = 579
KEY_APPSELECT: Final = 580
KEY_SCREENSAVER: Final = 581
KEY_VOICECOMMAND: Final = 582
KEY_ASSISTANT: Final = 583
KEY_KBD_LAYOUT_NEXT: Final = 584
KEY_EMOJI_PICKER: Final = 585
KEY_DICTATE: Final = 586
KEY_BRIGHTNESS_MIN: Final = 592
KEY_BRIGHTNESS_MAX: Final = 593
KEY_KBDINPUTASSIST_PREV: Final = 608
KEY_KBDINPUTASSIST_NEXT: Final = 609
KEY_KBDINPUTASSIST_PREVGROUP: Final = 610
KEY_KBDINPUTASSIST_NEXTGROUP: Final = 611
KEY_KBDINPUTASSIST_ACCEPT: Final = 612
KEY_KBDINPUTASSIST_CANCEL: Final = 613
KEY_RIGHT_UP: Final = 614
KEY_RIGHT_DOWN: Final = 615
KEY_LEFT_UP: Final = 616
KEY_LEFT_DOWN: Final = 617
KEY_ROOT_MENU: Final = 618
KEY_MEDIA_TOP_MENU: Final = 619
KEY_NUMERIC_11: Final = 620
KEY_NUMERIC_12: Final = 621
KEY_AUDIO_DESC: Final = 622
KEY_3D_MODE: Final = 623
KEY_NEXT_FAVORITE: Final = 624
KEY_STOP_RECORD: Final = 625
KEY_PAUSE_RECORD: Final = 626
KEY_VOD: Final = 627
KEY_UNMUTE: Final = 628
KEY_FASTREVERSE: Final = 629
KEY_SLOWREVERSE: Final = 630
KEY_DATA: Final = 631
KEY_ONSCREEN_KEYBOARD: Final = 632
KEY_PRIVACY_SCREEN_TOGGLE: Final = 633
KEY_SELECTIVE_SCREENSHOT: Final = 634
KEY_NEXT_ELEMENT: Final = 635
KEY_PREVIOUS_ELEMENT: Final = 636
KEY_AUTOPILOT_ENGAGE_TOGGLE: Final = 637
KEY_MARK_WAYPOINT: Final = 638
KEY_SOS: Final = 639
KEY_NAV_CHART: Final = 640
KEY_FISHING_CHART: Final = 641
KEY_SINGLE_RANGE_RADAR: Final = 642
KEY_DUAL_RANGE_RADAR: Final = 643
KEY_RADAR_OVERLAY: Final = 644
KEY_TRADITIONAL_SONAR: Final = 645
KEY_CLEARVU_SONAR: Final = 646
KEY_SIDEVU_SONAR: Final = 647
KEY_NAV_INFO: Final = 648
KEY_BRIGHTNESS_MENU: Final = 649
KEY_MACRO1: Final = 656
KEY_MACRO2: Final = 657
KEY_MACRO3: Final = 658
KEY_MACRO4: Final = 659
KEY_MACRO5: Final = 660
KEY_MACRO6: Final = 661
KEY_MACRO7: Final = 662
KEY_MACRO8: Final = 663
KEY_MACRO9: Final = 664
KEY_MACRO10: Final = 665
KEY_MACRO11: Final = 666
KEY_MACRO12: Final = 667
KEY_MACRO13: Final = 668
KEY_MACRO14: Final = 669
KEY_MACRO15: Final = 670
KEY_MACRO16: Final = 671
KEY_MACRO17: Final = 672
KEY_MACRO18: Final = 673
KEY_MACRO19: Final = 674
KEY_MACRO20: Final = 675
KEY_MACRO21: Final = 676
KEY_MACRO22: Final = 677
KEY_MACRO23: Final = 678
KEY_MACRO24: Final = 679
KEY_MACRO25: Final = 680
KEY_MACRO26: Final = 681
KEY_MACRO27: Final = 682
KEY_MACRO28: Final = 683
KEY_MACRO29: Final = 684
KEY_MACRO30: Final = 685
KEY_MACRO_RECORD_START: Final = 688
KEY_MACRO_RECORD_STOP: Final = 689
KEY_MACRO_PRESET_CYCLE: Final = 690
KEY_MACRO_PRESET1: Final = 691
KEY_MACRO_PRESET2: Final = 692
KEY_MACRO_PRESET3: Final = 693
KEY_KBD_LCD_MENU1: Final = 696
KEY_KBD_LCD_MENU2: Final = 697
KEY_KBD_LCD_MENU3: Final = 698
KEY_KBD_LCD_MENU4: Final = 699
KEY_KBD_LCD_MENU5: Final = 700

BTN_TRIGGER_HAPPY1: Final = 704
BTN_TRIGGER_HAPPY: Final = 704
BTN_TRIGGER_HAPPY2: Final = 705
BTN_TRIGGER_HAPPY3: Final = 706
BTN_TRIGGER_HAPPY4: Final = 707
BTN_TRIGGER_HAPPY5: Final = 708
BTN_TRIGGER_HAPPY6: Final = 709
BTN_TRIGGER_HAPPY7: Final = 710
BTN_TRIGGER_HAPPY8: Final = 711
BTN_TRIGGER_HAPPY9: Final = 712
BTN_TRIGGER_HAPPY10: Final = 713
BTN_TRIGGER_HAPPY11: Final = 714
BTN_TRIGGER_HAPPY12: Final = 715
BTN_TRIGGER_HAPPY13: Final = 716
BTN_TRIGGER_HAPPY14: Final = 717
BTN_TRIGGER_HAPPY15: Final = 718
BTN_TRIGGER_HAPPY16: Final = 719
BTN_TRIGGER_HAPPY17: Final = 720
BTN_TRIGGER_HAPPY18: Final = 721
BTN_TRIGGER_HAPPY19: Final = 722
BTN_TRIGGER_HAPPY20: Final = 723
BTN_TRIGGER_HAPPY21: Final = 724
BTN_TRIGGER_HAPPY22: Final = 725
BTN_TRIGGER_HAPPY23: Final = 726
BTN_TRIGGER_HAPPY24: Final = 727
BTN_TRIGGER_HAPPY25: Final = 728
BTN_TRIGGER_HAPPY26: Final = 729
BTN_TRIGGER_HAPPY27: Final = 730
BTN_TRIGGER_HAPPY28: Final = 731
BTN_TRIGGER_HAPPY29: Final = 732
BTN_TRIGGER_HAPPY30: Final = 733
BTN_TRIGGER_HAPPY31: Final = 734
BTN_TRIGGER_HAPPY32: Final = 735
BTN_TRIGGER_HAPPY33: Final = 736
BTN_TRIGGER_HAPPY34: Final = 737
BTN_TRIGGER_HAPPY35: Final = 738
BTN_TRIGGER_HAPPY36: Final = 739
BTN_TRIGGER_HAPPY37: Final = 740
BTN_TRIGGER_HAPPY38: Final = 741
BTN_TRIGGER_HAPPY39: Final = 742
BTN_TRIGGER_HAPPY40: Final = 743

REL_X: Final = 0
REL_Y: Final = 1
REL_Z: Final = 2
REL_RX: Final = 3
REL_RY: Final = 4
REL_RZ: Final = 5
REL_HWHEEL: Final = 6
REL_DIAL: Final = 7
REL_WHEEL: Final = 8
REL_MISC: Final = 9
REL_RESERVED: Final = 10
REL_WHEEL_HI_RES: Final = 11
REL_HWHEEL_HI_RES: Final = 12

ABS_X: Final = 0
ABS_Y: Final = 1
ABS_Z: Final = 2
ABS_RX: Final = 3
ABS_RY: Final = 4
ABS_RZ: Final = 5
ABS_THROTTLE: Final = 6
ABS_RUDDER: Final = 7
ABS_WHEEL: Final = 8
ABS_GAS: Final = 9
ABS_BRAKE: Final = 10
ABS_HAT0X: Final = 16
ABS_HAT0Y: Final = 17
ABS_HAT1X: Final = 18
ABS_HAT1Y: Final = 19
ABS_HAT2X: Final = 20
ABS_HAT2Y: Final = 21
ABS_HAT3X: Final = 22
ABS_HAT3Y: Final = 23
ABS_PRESSURE: Final = 24
ABS_DISTANCE: Final = 25
ABS_TILT_X: Final = 26
ABS_TILT_Y: Final = 27
ABS_TOOL_WIDTH: Final = 28
ABS_VOLUME: Final = 32
ABS_PROFILE: Final = 33
ABS_MISC: Final = 40
ABS_RESERVED: Final = 46
ABS_MT_SLOT: Final = 47
ABS_MT_TOUCH_MAJOR: Final = 48
ABS_MT_TOUCH_MINOR: Final = 49
ABS_MT_WIDTH_MAJOR: Final = 50
ABS_MT_WIDTH_MINOR: Final = 51
ABS_MT_ORIENTATION: Final = 52
ABS_MT_POSITION_X: Final = 53
ABS_MT_POSITION_Y: Final = 54
ABS_MT_TOOL_TYPE: Final = 55
ABS_MT_BLOB_ID: Final = 56
ABS_MT_TRACKING_ID: Final = 57
ABS_MT_PRESSURE: Final = 58
ABS_MT_DISTANCE: Final = 59
ABS_MT_TOOL_X: Final = 60
ABS_MT_TOOL_Y: Final = 61

MSC_SERIAL: Final = 0
MSC_PULSELED: Final = 1
MSC_GESTURE: Final = 2
MSC_RAW: Final = 3
MSC_SCAN: Final = 4
MSC_TIMESTAMP: Final = 5

LED_NUML: Final = 0
LED_CAPSL: Final = 1
LED_SCROLLL: Final = 2
LED_COMPOSE: Final = 3
LED_KANA: Final = 4
LED_SLEEP: Final = 5
LED_SUSPEND: Final = 6
LED_MUTE: Final = 7
LED_MISC: Final = 8
LED_MAIL: Final = 9
LED_CHARGING: Final = 10

REP_DELAY: Final = 0
REP_PERIOD: Final = 1

# Highest valid event type (EV_MAX) and code per event type (KEY_MAX, ...).
MAX_TYPE: Final = 31
MAX_CODE: Final[dict[int, int]] = {
    EV_SYN: 15,
    EV_KEY: 767,
    EV_REL: 15,
    EV_ABS: 63,
    EV_MSC: 7,
    EV_LED: 15,
    EV_REP: 1,
}

# Second names of a code; code_name() never returns these.
ALIASES: Final[frozenset[str]] = frozenset(
    {
        "BTN_A",
        "BTN_B",
        "BTN_DIGI",
        "BTN_GAMEPAD",
        "BTN_JOYSTICK",
        "BTN_MISC",
        "BTN_MOUSE",
        "BTN_TRIGGER_HAPPY",
        "BTN_WHEEL",
        "BTN_X",
        "BTN_Y",
        "KEY_BRIGHTNESS_TOGGLE",
        "KEY_BRIGHTNESS_ZERO",
        "KEY_COFFEE",
        "KEY_DASHBOARD",
        "KEY_DIRECTION",
        "KEY_HANGUEL",
        "KEY_MIN_INTERESTING",
        "KEY_SCREEN",
        "KEY_WIMAX",
        "KEY_ZOOM",
    }
)
# --- END GENERATED TABLE ---

# Name prefixes of the codes of each event type we name.
_PREFIXES: Final[dict[int, tuple[str, ...]]] = {
    EV_SYN: ("SYN_",),
    EV_KEY: ("KEY_", "BTN_"),
    EV_REL: ("REL_",),
    EV_ABS: ("ABS_",),
    EV_MSC: ("MSC_",),
    EV_LED: ("LED_",),
    EV_REP: ("REP_",),
}
_ALL_PREFIXES: Final = ("EV_", *(p for ps in _PREFIXES.values() for p in ps))
# evdev codes are __u16 on the wire: the bound for types whose codes we don't name.
_U16_MAX: Final = 0xFFFF

CODES: Final[dict[str, int]] = {
    name: value
    for name, value in globals().items()
    if name.startswith(_ALL_PREFIXES) and isinstance(value, int)
}
TYPES: Final[dict[str, int]] = {n: v for n, v in CODES.items() if n.startswith("EV_")}

_TYPE_NAMES: Final[dict[int, str]] = {v: n for n, v in TYPES.items()}
_CODE_NAMES: Final[dict[tuple[int, int], str]] = {
    (type_, CODES[name]): name
    for type_, prefixes in _PREFIXES.items()
    for name in CODES
    if name.startswith(prefixes) and name not in ALIASES
}
_TYPE_OF_NAME: Final[dict[str, int]] = {
    name: type_
    for type_, prefixes in _PREFIXES.items()
    for name in CODES
    if name.startswith(prefixes)
}


def type_name(type_: int) -> str:
    """``EV_KEY`` for 1; the decimal number for a type without a name."""
    return _TYPE_NAMES.get(type_, str(type_))


def code_name(type_: int, code: int) -> str:
    """The kernel's primary name of ``code`` of event type ``type_`` (``BTN_LEFT``, not
    ``BTN_MOUSE``), or its decimal number when it has none."""
    return _CODE_NAMES.get((type_, code), str(code))


def _as_number(x: str) -> int | None:
    try:
        return int(x, 0)
    except ValueError:
        return None


def parse_type(x: str | int) -> int:
    """An event type from ``"EV_KEY"`` (any case), ``1`` or ``"1"`` / ``"0x01"``."""
    if isinstance(x, bool) or not isinstance(x, int | str):
        raise InputError(f"event type must be a name or a number, not {x!r}")
    if isinstance(x, str):
        text = x.strip()
        number = _as_number(text)
        if number is None:
            found = TYPES.get(text.upper())
            if found is None:
                raise InputError(f"unknown event type {x!r} (expected EV_KEY, EV_REL, ...)")
            return found
        x = number
    if not 0 <= x <= MAX_TYPE:
        raise InputError(f"event type {x} out of range 0..{MAX_TYPE}")
    return x


def parse_code(type_: int, x: str | int) -> int:
    """A code of event type ``type_`` from a name (``"KEY_A"``, any case, aliases accepted),
    a number or a numeric string; range-checked against ``KEY_MAX`` and friends."""
    if isinstance(x, bool) or not isinstance(x, int | str):
        raise InputError(f"event code must be a name or a number, not {x!r}")
    if isinstance(x, str):
        text = x.strip()
        number = _as_number(text)
        if number is None:
            name = text.upper()
            owner = _TYPE_OF_NAME.get(name)
            if owner is None:
                raise InputError(f"unknown event code {x!r}")
            if owner != type_:
                raise InputError(
                    f"{name} is a {type_name(owner)} code, not a {type_name(type_)} code"
                )
            return CODES[name]
        x = number
    limit = MAX_CODE.get(type_, _U16_MAX)
    if not 0 <= x <= limit:
        raise InputError(f"{type_name(type_)} code {x} out of range 0..{limit}")
    return x
